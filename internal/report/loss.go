package report

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of the loss panel.
const (
	rawRGB    = 0x9ecae1 // light blue: raw per-step loss is noisy, so it stays in the background
	smoothRGB = 0x08519c // dark blue
	valRGB    = 0xe6550d // orange
)

// drawLoss draws the loss panel. Non-finite values (a diverged run) are
// left out rather than failing the whole report.
func drawLoss(c draw.Canvas, loss, valLoss []float64, valSteps []int) error {
	train := finiteXYs(len(loss), func(i int) (float64, float64) { return float64(i + 1), loss[i] })
	val := finiteXYs(len(valLoss), func(i int) (float64, float64) { return float64(valSteps[i]), valLoss[i] })

	p := plot.New()
	p.Title.Text = "loss"
	p.Title.TextStyle = textStyle(13, true, color.Black)
	p.Title.TextStyle.XAlign = draw.XCenter
	p.Title.TextStyle.YAlign = draw.YTop
	p.Title.Padding = 6
	styleAxis(&p.X, "step")
	styleAxis(&p.Y, "loss")
	p.X.Tick.Marker = niceTicks{integer: true}
	p.Y.Tick.Marker = niceTicks{}

	if len(train) == 0 && len(val) == 0 {
		msg := "no loss recorded"
		if len(loss)+len(valLoss) > 0 {
			msg = "no finite loss recorded"
		}
		drawEmpty(c, p, msg)
		return nil
	}

	p.Add(&plotter.Grid{
		Vertical:   draw.LineStyle{Color: color.Gray{Y: 0xe6}, Width: 0.5},
		Horizontal: draw.LineStyle{Color: color.Gray{Y: 0xe6}, Width: 0.5},
	})
	var legend []legendEntry

	if len(train) > 0 {
		raw, err := plotter.NewLine(train)
		if err != nil {
			return fmt.Errorf("report: loss line: %w", err)
		}
		raw.Color = rgb(rawRGB)
		raw.Width = 0.75
		p.Add(raw)
		legend = append(legend, legendEntry{"training loss (per step)", []plot.Thumbnailer{raw}})
		if len(train) == 1 {
			// A line needs two points; show the lone one as a dot.
			dot, err := plotter.NewScatter(train)
			if err != nil {
				return fmt.Errorf("report: loss point: %w", err)
			}
			dot.GlyphStyle = draw.GlyphStyle{Color: rgb(smoothRGB), Radius: 2.5, Shape: draw.CircleGlyph{}}
			p.Add(dot)
		}
		if win := smoothWindow(len(train)); win > 1 {
			avg, err := plotter.NewLine(movingAverage(train, win))
			if err != nil {
				return fmt.Errorf("report: smoothed loss line: %w", err)
			}
			avg.Color = rgb(smoothRGB)
			avg.Width = 1.75
			p.Add(avg)
			legend = append(legend, legendEntry{fmt.Sprintf("moving average (%d steps)", win), []plot.Thumbnailer{avg}})
		}
	}
	if len(val) > 0 {
		pts, err := plotter.NewScatter(val)
		if err != nil {
			return fmt.Errorf("report: validation loss: %w", err)
		}
		pts.GlyphStyle = draw.GlyphStyle{Color: rgb(valRGB), Radius: 3, Shape: draw.CircleGlyph{}}
		thumbs := []plot.Thumbnailer{pts}
		if len(val) > 1 {
			ln, err := plotter.NewLine(val)
			if err != nil {
				return fmt.Errorf("report: validation loss: %w", err)
			}
			ln.Color = rgb(valRGB)
			ln.Width = 1
			ln.Dashes = []vg.Length{4, 3}
			p.Add(ln)
			thumbs = append(thumbs, ln)
		}
		p.Add(pts)
		legend = append(legend, legendEntry{"validation loss", thumbs})
	}

	// Cross-entropy is never negative: anchoring at zero keeps the drop honest.
	if p.Y.Min >= 0 {
		p.Y.Min = 0
	}
	p.Y.Max += 0.03 * (p.Y.Max - p.Y.Min) // the first steps' spike stays off the frame
	if p.X.Min > 0 {
		p.X.Min = 0
	}

	sty := textStyle(9, false, color.Black)
	rows, widths := legendRows(legend, sty, c.Max.X-c.Min.X)
	p.Title.Padding += legendRowHeight(sty)*vg.Length(len(rows)) + 4
	p.Draw(c)
	drawLegend(c, rows, widths, sty, c.Max.Y-p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y-4)
	return nil
}

type legendEntry struct {
	text   string
	thumbs []plot.Thumbnailer
}

// Legend layout, in points.
const (
	legendThumb = vg.Length(18)
	legendGap   = vg.Length(4)  // between a thumbnail and its text
	legendSpace = vg.Length(14) // between entries
)

// legendRows flows the entries into rows no wider than width. The legend
// sits between the title and the plot, never on the data, whatever shape
// the curve has.
func legendRows(entries []legendEntry, sty text.Style, width vg.Length) (rows [][]legendEntry, widths []vg.Length) {
	var row []legendEntry
	var w vg.Length
	for _, e := range entries {
		ew := legendThumb + legendGap + sty.Width(e.text)
		if len(row) > 0 && w+legendSpace+ew > width {
			rows, widths = append(rows, row), append(widths, w)
			row, w = nil, 0
		}
		if len(row) > 0 {
			w += legendSpace
		}
		row, w = append(row, e), w+ew
	}
	if len(row) > 0 {
		rows, widths = append(rows, row), append(widths, w)
	}
	return rows, widths
}

// drawLegend draws the rows centred on the panel, the first with its top at y.
func drawLegend(c draw.Canvas, rows [][]legendEntry, widths []vg.Length, sty text.Style, y vg.Length) {
	sty.YAlign = draw.YCenter
	h := legendRowHeight(sty)
	for i, row := range rows {
		x := c.Center().X - widths[i]/2
		for _, e := range row {
			icon := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
				Min: vg.Point{X: x, Y: y - h},
				Max: vg.Point{X: x + legendThumb, Y: y},
			}}
			for _, t := range e.thumbs {
				t.Thumbnail(&icon)
			}
			c.FillText(sty, vg.Point{X: x + legendThumb + legendGap, Y: y - h/2}, e.text)
			x += legendThumb + legendGap + sty.Width(e.text) + legendSpace
		}
		y -= h
	}
}

func legendRowHeight(sty text.Style) vg.Length { return sty.Font.Size * 1.5 }

// drawEmpty draws the panel title, an empty frame and msg in its middle.
func drawEmpty(c draw.Canvas, p *plot.Plot, msg string) {
	p.HideAxes()
	p.Draw(c)
	dc := p.DataCanvas(c)
	dc.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 0xcc}, Width: 1})
	dc.Stroke(dc.Rectangle.Path())
	sty := textStyle(12, false, color.Gray{Y: 0x66})
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	dc.FillText(sty, dc.Center(), msg)
}

func styleAxis(a *plot.Axis, label string) {
	a.Label.Text = label
	a.Label.TextStyle = textStyle(11, false, color.Black)
	a.Label.TextStyle.XAlign = draw.XCenter
	a.Label.TextStyle.YAlign = draw.YBottom
	a.Label.Padding = 4
	a.Tick.Label.Font = textStyle(9, false, nil).Font
	a.Tick.Length = 4
	a.Padding = 2
}

// niceTicks labels about six round values, with as few decimals as they
// need; plot.DefaultTicks often labels only two on a loss axis.
type niceTicks struct {
	integer bool // no fractional ticks: there is no step 2.5
}

func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	const target = 6
	raw := (hi - lo) / target
	if !(raw > 0) || math.IsInf(raw, 0) {
		return nil
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if t.integer {
		step = max(1, math.Round(step))
	}
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if s := step / math.Pow(10, -float64(decimals)); math.Abs(s-math.Round(s)) > 1e-9 {
		decimals++ // 0.25 steps need one more digit than 0.2 steps
	}
	var ticks []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		v := k * step
		if v == 0 {
			v = 0 // not "-0"
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

func finiteXYs(n int, at func(int) (x, y float64)) plotter.XYs {
	var xys plotter.XYs
	for i := range n {
		x, y := at(i)
		if math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
	}
	return xys
}

// smoothWindow picks a window of about 2% of the run, odd so that it
// centres on a step; runs too short to be noisy get none.
func smoothWindow(n int) int {
	if n < 20 {
		return 1
	}
	return max(5, n/50) | 1
}

// movingAverage is a centred mean over win points, narrowing at the ends
// so the curve neither lags nor loses its first and last steps.
func movingAverage(xys plotter.XYs, win int) plotter.XYs {
	sum := make([]float64, len(xys)+1)
	for i, p := range xys {
		sum[i+1] = sum[i] + p.Y
	}
	half := win / 2
	out := make(plotter.XYs, len(xys))
	for i, p := range xys {
		lo, hi := max(0, i-half), min(len(xys), i+half+1)
		out[i] = plotter.XY{X: p.X, Y: (sum[hi] - sum[lo]) / float64(hi-lo)}
	}
	return out
}

func rgb(v uint32) color.Color {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}
