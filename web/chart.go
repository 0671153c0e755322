package web

import (
	"fmt"
	"sort"
	"time"

	"github.com/chatloop/chatloop/feedback"
)

// chartDays is how many days the votes chart shows, ending at the last
// day with votes.
const chartDays = 30

// chart is the votes-per-platform-per-day bar chart, laid out here and
// drawn as inline SVG by the template: no script, no library.
type chart struct {
	Width, Height int
	Bars          []bar
	Legend        []legendItem
	Ticks         []tick
	First, Last   string
	Max           int
	Empty         bool
}

type bar struct {
	X, Y, W, H float64
	Colour     string
	Title      string
}

type legendItem struct {
	Platform string
	Colour   string
	Votes    int
}

type tick struct {
	Y     float64
	Label string
}

// palette colours platforms in name order; it is readable for the common
// kinds of colour blindness (Okabe–Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

const (
	chartW, chartH         = 720, 220
	padLeft, padBottom     = 40.0, 24.0
	padTop, padRight       = 10.0, 8.0
	plotW                  = chartW - padLeft - padRight
	plotH                  = chartH - padTop - padBottom
	barGap                 = 0.2
	chartDayFormat         = time.DateOnly
	maxPlatformsOnTheChart = 8 // len(palette)
)

// votesChart lays out a stacked bar per day (votes up and down together),
// one colour per platform, over the days up to the last one with votes.
func votesChart(rows []feedback.DayVotes, days int) chart {
	c := chart{Width: chartW, Height: chartH}
	if len(rows) == 0 {
		c.Empty = true
		return c
	}
	last, err := time.Parse(chartDayFormat, rows[len(rows)-1].Day)
	if err != nil {
		c.Empty = true
		return c
	}
	first := last.AddDate(0, 0, -(days - 1))
	perDay := map[string]map[string]int{}
	totals := map[string]int{}
	for _, r := range rows {
		d, err := time.Parse(chartDayFormat, r.Day)
		if err != nil || d.Before(first) {
			continue
		}
		if perDay[r.Day] == nil {
			perDay[r.Day] = map[string]int{}
		}
		perDay[r.Day][r.Platform] += r.Up + r.Down
		totals[r.Platform] += r.Up + r.Down
	}
	var platforms []string
	for p := range totals {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	colour := map[string]string{}
	for i, p := range platforms {
		colour[p] = palette[min(i, maxPlatformsOnTheChart-1)]
		c.Legend = append(c.Legend, legendItem{Platform: p, Colour: colour[p], Votes: totals[p]})
	}
	for _, m := range perDay {
		n := 0
		for _, v := range m {
			n += v
		}
		c.Max = max(c.Max, n)
	}
	if c.Max == 0 {
		c.Empty = true
		return c
	}
	c.First, c.Last = first.Format(chartDayFormat), last.Format(chartDayFormat)
	slot := plotW / float64(days)
	for i := range days {
		day := first.AddDate(0, 0, i).Format(chartDayFormat)
		y := padTop + plotH
		for _, p := range platforms {
			n := perDay[day][p]
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(c.Max)
			y -= h
			c.Bars = append(c.Bars, bar{
				X: padLeft + float64(i)*slot + slot*barGap/2, Y: y, W: slot * (1 - barGap), H: h,
				Colour: colour[p], Title: fmt.Sprintf("%s %s: %d votes", day, p, n),
			})
		}
	}
	ticks := []int{0, c.Max}
	if c.Max%2 == 0 && c.Max > 2 {
		ticks = append(ticks, c.Max/2)
	}
	for _, n := range ticks {
		c.Ticks = append(c.Ticks, tick{Y: padTop + plotH*(1-float64(n)/float64(c.Max)), Label: fmt.Sprint(n)})
	}
	return c
}
