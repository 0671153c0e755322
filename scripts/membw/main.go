// Command membw measures this machine's streaming read bandwidth: the
// ceiling on token generation, which reads every weight once per token.
//
// Method: one buffer of -size MiB (default 1 GiB, far above any CPU cache)
// is filled, so that its pages are resident, then read start to end
// -passes times by 1 and by 2 goroutines (each a contiguous share), each
// summing its uint64 words with eight independent accumulators so that the
// loads, not the additions, limit the loop. Bandwidth is bytes read ÷ wall
// time of the pass; the median pass is reported. The loop is plain Go: the
// compiler does not vectorize it, but eight-byte loads at one or two a
// cycle already outrun DRAM on one core, so vector loads would not change
// the figure. Check with `go test -bench Sum ./scripts/membw`: from a
// cache-resident 1 MiB the same loop reads about twice as fast as from
// the 1 GiB buffer on one core.
//
//	go run ./scripts/membw [-size MiB] [-passes N] [-threads 1,2] [-json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "buffer size in MiB")
	passes := flag.Int("passes", 7, "passes per thread count; the median is reported")
	threadList := flag.String("threads", "1,2", "comma-separated goroutine counts")
	asJSON := flag.Bool("json", false, `print {"threads_1": GB/s, ...}`)
	flag.Parse()
	if err := run(*sizeMiB, *passes, *threadList, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "membw:", err)
		os.Exit(1)
	}
}

func run(sizeMiB, passes int, threadList string, asJSON bool) error {
	if sizeMiB < 1 || passes < 1 {
		return fmt.Errorf("-size and -passes must be positive")
	}
	var threads []int
	for _, f := range strings.Split(threadList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-threads: %q is not a positive count", f)
		}
		threads = append(threads, n)
	}
	buf := make([]uint64, sizeMiB<<20/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	res := map[string]float64{}
	for _, n := range threads {
		if n > runtime.GOMAXPROCS(0) {
			fmt.Fprintf(os.Stderr, "membw: %d goroutines on %d CPUs\n", n, runtime.GOMAXPROCS(0))
		}
		var gbs []float64
		for range passes {
			start := time.Now()
			if got, want := sumParallel(buf, n), sumOfIndices(len(buf)); got != want {
				return fmt.Errorf("sum %d, want %d", got, want)
			}
			gbs = append(gbs, float64(len(buf)*8)/time.Since(start).Seconds()/1e9)
		}
		slices.Sort(gbs)
		med := gbs[len(gbs)/2]
		if len(gbs)%2 == 0 {
			med = (gbs[len(gbs)/2-1] + gbs[len(gbs)/2]) / 2
		}
		res[fmt.Sprintf("threads_%d", n)] = float64(int(med*100+0.5)) / 100
		if !asJSON {
			fmt.Printf("%d goroutine(s): %6.2f GB/s median of %d passes over %d MiB (min %.2f, max %.2f)\n",
				n, med, passes, sizeMiB, gbs[0], gbs[len(gbs)-1])
		}
	}
	if asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	return nil
}

// sumParallel sums buf with n goroutines, each over a contiguous share.
func sumParallel(buf []uint64, n int) uint64 {
	sums := make([]uint64, n)
	per := (len(buf) + n - 1) / n
	var wg sync.WaitGroup
	for i := range n {
		lo, hi := min(i*per, len(buf)), min((i+1)*per, len(buf))
		wg.Go(func() { sums[i] = sum(buf[lo:hi]) })
	}
	wg.Wait()
	var s uint64
	for _, v := range sums {
		s += v
	}
	return s
}

// sum adds the words with eight independent accumulators.
func sum(b []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	i := 0
	for ; i+8 <= len(b); i += 8 {
		c := b[i : i+8 : i+8]
		s0 += c[0]
		s1 += c[1]
		s2 += c[2]
		s3 += c[3]
		s4 += c[4]
		s5 += c[5]
		s6 += c[6]
		s7 += c[7]
	}
	for ; i < len(b); i++ {
		s0 += b[i]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

// sumOfIndices is 0 + 1 + ... + (n-1), what the filled buffer sums to.
func sumOfIndices(n int) uint64 {
	m := uint64(n)
	return m * (m - 1) / 2
}
