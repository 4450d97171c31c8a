package console

import (
	"strconv"
	"strings"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// chart is a step line of a SKU's available units, drawn as SVG by
// skus.html: Points is the polyline, in a Width × Height box.
type chart struct {
	Width, Height int
	Points        string
	Min, Max      int64
	Changes       int
}

// chartWidth and chartHeight size the chart; chartPad keeps the line off
// its edges.
const chartWidth, chartHeight, chartPad = 480, 120, 4

// availableChart walks the ledger back from the current available figure
// to draw it over the last chartSpan: each entry moved available by its
// change of on hand, less its change of committed and of safety stock.
func availableChart(current int64, entries []hub.LedgerEntry, now time.Time) chart {
	type point struct {
		at    time.Time
		value int64
	}
	// Walk back: points[i] holds the value from its time onwards.
	points := []point{{now, current}}
	value := current
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		delta := e.After - e.Before
		if e.Quantity != "on_hand" {
			delta = -delta
		}
		points = append(points, point{e.CreatedAt, value})
		value -= delta
	}
	start := now.Add(-chartSpan)
	points = append(points, point{start, value})
	lo, hi := value, value
	for _, p := range points {
		lo, hi = min(lo, p.value), max(hi, p.value)
	}
	lo = min(lo, 0)
	if hi == lo {
		hi = lo + 1
	}
	x := func(t time.Time) int {
		return chartPad + int(float64(chartWidth-2*chartPad)*float64(t.Sub(start))/float64(chartSpan))
	}
	y := func(v int64) int {
		return chartHeight - chartPad - int(float64(chartHeight-2*chartPad)*float64(v-lo)/float64(hi-lo))
	}
	var b strings.Builder
	// points runs newest to oldest; draw oldest first, as steps.
	prev := points[len(points)-1]
	add := func(t time.Time, v int64) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(x(t)) + "," + strconv.Itoa(y(v)))
	}
	add(prev.at, prev.value)
	for i := len(points) - 2; i >= 0; i-- {
		p := points[i]
		add(p.at, prev.value)
		add(p.at, p.value)
		prev = p
	}
	return chart{Width: chartWidth, Height: chartHeight, Points: b.String(), Min: lo, Max: hi, Changes: len(entries)}
}
