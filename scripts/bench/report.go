package main

import (
	"fmt"
	"math"
)

// printHeader prints the header of the table printRows fills.
func printHeader() {
	fmt.Println("| run | consumer | msgs/s | points/s | vs bare | CPU µs/msg | vs bare | peak RSS MB (anon) | fsyncs/s (strace: by file) | ingest-log syncs/s | B/point written: write_bytes / wchar (LP size) | ack p50/p99 ms | publish→outbox p50/p99 ms | publish→sink file p50/p99 ms | lost / dropped in rivulet |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|---|---|---|")
}

// printRows prints the bare subscriber's row (if measured) and rivulet's.
func printRows(label string, b, r sample, withBare, withRivulet bool) {
	if withBare {
		who := "bare paho subscriber"
		if bareParse != "" {
			who += " + one parse"
		}
		fmt.Printf("| %s | %s | %s | %s | 1.00 | %s | 1.00 | %s | – | – | – | – | – | – | %s |\n",
			label, who, num(b.msgs, 0), num(b.points, 0), num(b.cpuPerMsg, 1), rss(b), num(b.lost, 0))
	}
	if !withRivulet {
		return
	}
	syncs := num(r.fsyncs, 0)
	if r.syncKinds != "" {
		syncs += " (" + r.syncKinds + ")"
	}
	fmt.Printf("| %s | rivulet | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s (%s) | %s / %s | %s / %s | %s / %s | %s / %s |\n",
		label, num(r.msgs, 0), num(r.points, 0), ratio(r.msgs, b.msgs), num(r.cpuPerMsg, 1), ratio(r.cpuPerMsg, b.cpuPerMsg),
		rss(r), syncs, num(r.logSyncs, 0), num(r.wbPerPoint, 1), num(r.wcPerPt, 1), num(r.lpPerPoint, 1),
		num(r.ackP50, 1), num(r.ackP99, 1), num(r.outP50, 1), num(r.outP99, 1), num(r.sinkP50, 1), num(r.sinkP99, 1),
		num(r.lost, 0), num(r.droppedInternal, 0))
}

// rss is the peak resident set and, when sampled, the peak of its
// anonymous part: the rest are pages of the binary and libraries, mapped
// from files (shared and reclaimable).
func rss(s sample) string {
	if s.anonMB > 0 {
		return num(s.rssMB, 1) + " (" + num(s.anonMB, 1) + ")"
	}
	return num(s.rssMB, 1)
}

func num(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// printPeer prints the row of the -peer agent, against the bare
// subscriber's figures; it has no ingest log, acks or outbox.
func printPeer(label, peer string, b, p sample) {
	who := peer
	if peer == "collectd" {
		who = "collectd (mqtt → csv)"
	}
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | – | – | %s / %s (%s) | – | – | – | %s |\n",
		label, who, num(p.msgs, 0), num(p.points, 0), ratio(p.msgs, b.msgs), num(p.cpuPerMsg, 1), ratio(p.cpuPerMsg, b.cpuPerMsg),
		rss(p), num(p.wbPerPoint, 1), num(p.wcPerPt, 1), num(p.lpPerPoint, 1), num(p.lost, 0))
}
