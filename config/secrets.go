package config

import (
	"os"
	"path/filepath"
	"strings"
)

// credentialsEnv names the directory where systemd places the unit's
// credentials (LoadCredential=, SetCredentialEncrypted=).
const credentialsEnv = "CREDENTIALS_DIRECTORY"

// resolveSecretFiles makes every relative secret or TLS file path absolute:
// inside the systemd credentials directory when the environment names one
// (so `password_file: mqtt-password` reads the credential of that name),
// otherwise against base, the directory of the config file. The files are
// read by the packages that use them, never logged.
func resolveSecretFiles(c *Config, env []string, base string) {
	dir := base
	if cred := lookupEnv(env, credentialsEnv); cred != "" {
		dir = cred
	}
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Sources.MQTT {
		m := &c.Sources.MQTT[i]
		for _, p := range []*string{&m.PasswordFile, &m.TLS.CAFile, &m.TLS.CertFile, &m.TLS.KeyFile} {
			resolve(p)
		}
	}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		resolve(&s.TokenFile)
		resolve(&s.PasswordFile)
	}
}

func lookupEnv(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

func workingDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}
