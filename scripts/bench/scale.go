package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// scale measures live runs over a list of series counts or rates and
// prints one table: how CPU per message, peak RSS and latency change.
func scale(o options, kind, values string) error {
	o.mode = "live"
	var list []int
	switch kind {
	case "series":
		values = or(values, "1,100,1000,10000,100000")
	case "rate":
		values = or(values, "1000,5000,10000,20000,50000,0")
	default:
		return fmt.Errorf("-scale: want series or rate, got %q", kind)
	}
	for _, v := range strings.Split(values, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("-values: %w", err)
		}
		list = append(list, n)
	}
	fmt.Printf("| %s | rivulet msgs/s | bare msgs/s | points/s | rivulet CPU µs/msg | bare CPU µs/msg | ratio | rivulet peak RSS MB (anon) | fsyncs/s | ack p50/p99 ms | publish→outbox p50/p99 ms | publish→sink file p50/p99 ms | lost / dropped |\n", kind)
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|")
	for _, v := range list {
		p := o
		label := strconv.Itoa(v)
		if kind == "series" {
			p.traffic.series = v
			// Warm up until every series has been seen: the first sight of
			// a series costs more (state is created) than its steady state.
			if rate := p.rate; rate > 0 {
				p.warmup = max(p.warmup, time.Duration(float64(v)/float64(rate)*float64(time.Second))+time.Second)
			}
		} else {
			p.rate = v
			if v == 0 {
				label = "max"
			}
		}
		p.label = describe(p)
		b, r, _, err := measure(p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, label, err)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s |\n",
			label, num(r.msgs, 0), num(b.msgs, 0), num(r.points, 0), num(r.cpuPerMsg, 1), num(b.cpuPerMsg, 1), ratio(r.cpuPerMsg, b.cpuPerMsg),
			rss(r), num(r.fsyncs, 0), num(r.ackP50, 1), num(r.ackP99, 1), num(r.outP50, 1), num(r.outP99, 1),
			num(r.sinkP50, 1), num(r.sinkP99, 1), num(r.lost, 0), num(r.droppedInternal, 0))
		os.Stdout.Sync()
	}
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
