// Package report draws the PNG summary written next to every trained model:
// the training loss curve and the validation confusion matrix.
package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
	"gonum.org/v1/plot/vg/vgimg"
)

// Report is what one training run shows.
type Report struct {
	Title    string // e.g. "spam — version 20261128T141500Z"
	Subtitle string // e.g. "val accuracy 97.9% · macro-F1 97.1% · …"

	// Loss is the training loss per step; Loss[i] belongs to step i+1.
	Loss []float64
	// ValLoss is optional: the validation loss at each evaluation point,
	// taken after step ValSteps[i].
	ValLoss  []float64
	ValSteps []int

	// Labels are the class labels in the order of Confusion's rows and columns.
	Labels []string
	// Confusion holds [true][predicted] counts on the validation set.
	Confusion [][]int
}

// Size of the image in pixels. The height grows past MinHeight only when
// many classes would otherwise squeeze the matrix annotations illegibly
// (20 classes with long names: 1400×715).
const (
	Width     = 1400
	MinHeight = 600
	dpi       = 96
	pixel     = vg.Inch / dpi
)

// Layout, in points (a point is 4/3 pixel at 96 DPI).
const (
	margin      = vg.Length(12)
	headerGap   = vg.Length(6)
	titleSize   = vg.Length(16)
	subSize     = vg.Length(11)
	minTextSize = vg.Length(8)

	// Share of the width for the loss curve; the confusion matrix needs
	// the rest, and more of it once it has many columns.
	lossShare      = 0.45
	lossShareDense = 0.36
	denseClasses   = 9
)

// PNG renders r as a PNG image Width pixels wide and at least MinHeight
// tall. The output depends only on r.
func PNG(r Report) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	w, h := vg.Length(Width)*pixel, pageHeight(r)
	cv := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	left, right := panels(draw.New(cv), r)
	if err := drawLoss(left, r.Loss, r.ValLoss, r.ValSteps); err != nil {
		return nil, err
	}
	drawConfusion(right, r.Labels, r.Confusion)

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("report: encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// pageHeight is MinHeight, or taller by what the matrix rows lack.
func pageHeight(r Report) vg.Length {
	h := vg.Length(MinHeight) * pixel
	n := len(r.Labels)
	if n == 0 {
		return h
	}
	// Lay the page out on a recorder: it measures without drawing pixels.
	_, right := panels(draw.NewCanvas(new(recorder.Canvas), vg.Length(Width)*pixel, h), r)
	if l := layoutMatrix(right.Rectangle, r.Labels); l.ch < minCellHeight {
		h += vg.Length(n) * (minCellHeight - l.ch)
		h = vg.Length(math.Ceil(float64(h/pixel))) * pixel
	}
	return h
}

// panels draws the header on c and returns the loss and confusion panels
// below it.
func panels(c draw.Canvas, r Report) (loss, confusion draw.Canvas) {
	body := drawHeader(draw.Crop(c, margin, -margin, margin, -margin), r.Title, r.Subtitle)
	share := lossShare
	if len(r.Labels) >= denseClasses {
		share = lossShareDense
	}
	split := body.Min.X + vg.Length(share)*(body.Max.X-body.Min.X)
	loss, confusion = body, body
	loss.Max.X = split - margin
	confusion.Min.X = split + margin
	return loss, confusion
}

func (r Report) validate() error {
	n := len(r.Labels)
	if len(r.Confusion) != n {
		return fmt.Errorf("report: confusion matrix has %d rows, want one per label (%d)", len(r.Confusion), n)
	}
	for i, row := range r.Confusion {
		if len(row) != n {
			return fmt.Errorf("report: confusion matrix row %d (%q) has %d columns, want %d", i, r.Labels[i], len(row), n)
		}
		for j, v := range row {
			if v < 0 {
				return fmt.Errorf("report: confusion matrix cell [%d][%d] is negative (%d)", i, j, v)
			}
		}
	}
	if len(r.ValLoss) != len(r.ValSteps) {
		return fmt.Errorf("report: %d validation losses but %d validation steps", len(r.ValLoss), len(r.ValSteps))
	}
	return nil
}

// drawHeader writes the title and subtitle at the top of c and returns
// the canvas left below them.
func drawHeader(c draw.Canvas, title, subtitle string) draw.Canvas {
	y := c.Max.Y
	for _, line := range []struct {
		s    string
		size vg.Length
		bold bool
		clr  color.Color
	}{
		{title, titleSize, true, color.Black},
		{subtitle, subSize, false, color.Gray{Y: 0x44}},
	} {
		if line.s == "" {
			continue
		}
		sty, s := fitWidth(textStyle(line.size, line.bold, line.clr), line.s, c.Max.X-c.Min.X)
		sty.YAlign = draw.YTop
		c.FillText(sty, vg.Point{X: c.Min.X, Y: y}, s)
		y -= sty.Height(s) + headerGap
	}
	if y != c.Max.Y {
		y -= headerGap
	}
	c.Max.Y = y
	return c
}

// fitWidth shrinks sty's font until s fits in width, down to minTextSize,
// and cuts what still does not fit: a long title is better small than
// clipped, and better cut than unreadable.
func fitWidth(sty text.Style, s string, width vg.Length) (text.Style, string) {
	if w := sty.Width(s); w > width {
		sty.Font.Size = max(minTextSize, sty.Font.Size*width/w)
	}
	for r := []rune(s); sty.Width(s) > width && len(r) > 1; {
		r = r[:len(r)-1]
		s = string(r) + "…"
	}
	return sty, s
}

// textStyle returns a left-aligned Liberation Sans style; the plot package
// defaults to serif, which reads worse at small sizes.
func textStyle(size vg.Length, bold bool, clr color.Color) text.Style {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return text.Style{Color: clr, Font: f, Handler: plot.DefaultTextHandler}
}
