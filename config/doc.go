// Package config loads and checks the one config file of a rivulet site.
//
// A Config is assembled in three layers, each overriding the one before:
//
//  1. Default(), and inside lists the per-item defaults of the owning
//     package: every sources.mqtt[i] starts from ingest.DefaultMQTT(), every
//     topics[j] from ingest.DefaultTopic(), every pipeline[i] from
//     engine.DefaultStep() (window included) and every sinks[i] from
//     forward.DefaultConfig(). A key set to null keeps its default.
//  2. The file: YAML (.yaml, .yml), TOML (.toml) or JSON (.json), parsed by
//     viper's codecs. Keys are case-sensitive snake_case; map keys such as tag
//     names keep their case.
//  3. The environment: every scalar key outside a list is settable as
//     RIVULET_ plus its path upper-cased with dots as underscores, e.g.
//     RIVULET_SITE, RIVULET_WAL_DURABILITY, RIVULET_BATCH_MAX_BYTES=4MiB,
//     RIVULET_EMBEDDED_BROKER_ENABLED=true, RIVULET_CHECKPOINT_INTERVAL=5s.
//     Lists (sources.mqtt, pipeline, sinks) and everything inside them are
//     file-only. An empty variable counts as unset. A variable that starts
//     like a section (RIVULET_WAL_…) but names no key is a problem, so a typo
//     is not silently ignored; other RIVULET_* variables are left alone.
//
// Durations are strings with a unit ("20ms", "10s", "1m"); a bare number is
// refused (it would mean nanoseconds) except 0. Sizes are wal.Size strings
// ("4MiB", "1GiB") or plain byte counts.
//
// Load and LoadBytes never stop at the first mistake: an unknown key, a value
// of the wrong type, an environment value that does not parse and every
// failed check of the owning packages' Validate methods come back together in
// one *Error, one Problem per mistake with its full key path
// ("sources.mqtt[0].topics[1].qos"), sorted by path. Problems that come from
// the environment name the variable.
//
// data_dir may be relative in the file or the environment; Load resolves it
// against the working directory, so a loaded Config always holds an absolute
// path and Validate insists on one.
//
// Secrets are never part of a Config: sources and sinks name files
// (password_file, token_file) that their packages read when they start. This
// package reads no file but the config itself and prints no value of a key
// that does not exist.
package config
