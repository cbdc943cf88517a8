package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/rivulet-edge/rivulet/config"
	"github.com/rivulet-edge/rivulet/engine"
	"github.com/rivulet-edge/rivulet/wal"
	"github.com/rivulet-edge/rivulet/window"
)

func inspectCheckpoints(w io.Writer, dir string, cfg *config.Config) error {
	files, err := wal.ListCheckpoints(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "checkpoints %s: none yet\n", dir)
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "checkpoints %s: %d file(s)\n", dir, len(files))
	newest := -1
	for i, f := range files {
		status := "ok"
		if f.Err != nil {
			status = fmt.Sprintf("damaged: %v (the next start moves it to quarantine and uses an older one)", f.Err)
		} else {
			newest = i
		}
		fmt.Fprintf(w, "  %s  index %d  %d bytes  written %s  %s\n", filepath.Base(f.Path), f.Index, f.Size,
			fmtTime(f.ModTime.UnixNano()), status)
	}
	if newest < 0 {
		fmt.Fprintln(w, "no valid checkpoint: the next start processes the ingest log from its first entry")
		return nil
	}
	data, err := wal.ReadCheckpoint(dir, files[newest].Index)
	var st *engine.Summary
	if err == nil {
		st, err = engine.Summarize(data)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", files[newest].Index, err)
	}
	printState(w, st, cfg)
	return nil
}

func printState(w io.Writer, st *engine.Summary, cfg *config.Config) {
	fmt.Fprintf(w, "\nnewest valid checkpoint: index %d\n", st.Index)
	fmt.Fprintf(w, "  applied through ingest index %d; processing time (latest ingest time applied) %s\n",
		st.Index, fmtTime(st.Proc))
	steps := map[string]engine.StepConfig{}
	for _, sc := range cfg.Pipeline {
		steps[sc.Name] = sc
	}
	seen := map[string]bool{}
	for _, s := range st.Steps {
		sc, ok := steps[s.Name]
		seen[s.Name] = true
		printStep(w, st.Proc, s, sc, ok)
	}
	for _, sc := range cfg.Pipeline {
		if !seen[sc.Name] {
			fmt.Fprintf(w, "  step %s: not in the checkpoint (new in the config: starts empty)\n", sc.Name)
		}
	}
	_, series := st.Open()
	fmt.Fprintf(w, "  open series, all steps: %d\n", series)
}

// printStep describes one step's progress; sc is its config when
// configured is true.
func printStep(w io.Writer, proc int64, s engine.StepSummary, sc engine.StepConfig, configured bool) {
	wm := s.Watermark
	switch {
	case !configured:
		fmt.Fprintf(w, "  step %s (no longer in the config: its state is dropped on the next start)\n", s.Name)
	case sc.Kind() == engine.KindWindow:
		fmt.Fprintf(w, "  step %s (%s)\n", s.Name, describeWindow(sc))
	default:
		fmt.Fprintf(w, "  step %s (%s)\n", s.Name, sc.Kind())
	}
	if s.Kind != "" && s.Kind != engine.KindWindow {
		fmt.Fprintf(w, "    series          %d\n", s.Series)
		return
	}
	switch {
	case wm.Value == window.None:
		fmt.Fprintf(w, "    watermark       none yet (no data seen): no window has fired\n")
	case configured && (sc.Window.Kind() == window.KindTumbling || sc.Window.Kind() == window.KindHopping):
		first, _ := window.NewGrid(sc.Window).Windows(window.NewGrid(sc.Window).PaneStart(wm.Value))
		fmt.Fprintf(w, "    watermark       %s: windows ending at or before it have fired; points before %s are late\n",
			fmtTime(wm.Value), fmtTime(first))
	default:
		fmt.Fprintf(w, "    watermark       %s: windows ending at or before it have fired\n", fmtTime(wm.Value))
	}
	if wm.MaxEvent != window.None {
		fmt.Fprintf(w, "    max event time  %s: the watermark trails it by max_delay %s\n",
			fmtTime(wm.MaxEvent), time.Duration(wm.MaxDelay))
	}
	if wm.Active != 0 {
		fmt.Fprintf(w, "    idle clock      %s: last data or epoch, %s before the processing time; after idle_timeout %s without data the watermark moves with processing time\n",
			fmtTime(wm.Active), time.Duration(proc-wm.Active), time.Duration(wm.IdleTimeout))
	}
	fmt.Fprintf(w, "    late points     %d\n", s.Late)
	series := 0
	for _, win := range s.Windows {
		series += win.Series
	}
	if len(s.Windows) == 0 {
		series = s.Series
	}
	fmt.Fprintf(w, "    open windows    %d, %d series\n", len(s.Windows), series)
	const maxListed = 20
	for i, win := range s.Windows {
		if i == maxListed {
			fmt.Fprintf(w, "      … %d more\n", len(s.Windows)-maxListed)
			break
		}
		fmt.Fprintf(w, "      %s  %d groups\n", fmtTime(win.Start), win.Series)
	}
}

// describeWindow names a window step's window for people.
func describeWindow(sc engine.StepConfig) string {
	c := sc.Window
	switch c.Kind() {
	case window.KindHopping:
		return fmt.Sprintf("hopping windows of %s every %s", c.Size, c.Slide)
	case window.KindSession:
		return fmt.Sprintf("session windows, gap %s", c.Gap)
	case window.KindCount:
		if c.Every > 0 && c.Every != c.Points {
			return fmt.Sprintf("count windows of %d points every %d", c.Points, c.Every)
		}
		return fmt.Sprintf("count windows of %d points", c.Points)
	}
	return fmt.Sprintf("tumbling %s", c.Size)
}
