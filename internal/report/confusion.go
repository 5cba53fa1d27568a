package report

import (
	"image/color"
	"math"
	"strconv"

	xfont "golang.org/x/image/font"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Layout of the confusion panel, in points.
const (
	maxLabelRunes = 18
	labelGap      = vg.Length(4)  // between a label and the matrix
	titleGap      = vg.Length(6)  // between labels and the axis title
	barGap        = vg.Length(14) // between the matrix and the colour bar
	barWidth      = vg.Length(10)
	maxCellAspect = 1.6 // wider cells than this look like a table, not a matrix
	maxCountSize  = vg.Length(16)
	minCountSize  = vg.Length(5.5)
	pctScale      = 0.85 // percentage font relative to the count font
	barCaption    = "share of true label"

	// minCellHeight keeps a count over a percentage legible (about 7 pt
	// over 6 pt); the canvas grows taller when many classes need it.
	minCellHeight = vg.Length(18)
)

// confusionHeading tops the panel.
const confusionHeading = "confusion matrix (validation)"

// matrixLayout places the confusion matrix, its labels and colour bar in
// the panel. It is computed before the canvas exists, to size the canvas.
type matrixLayout struct {
	names  []string  // truncated labels
	x0, y0 vg.Length // top left corner of the matrix
	cw, ch vg.Length // cell size
	labelW vg.Length // widest row label

	heading, yLabel, xLabel, axisTitle, barLabel text.Style
}

func layoutMatrix(area vg.Rectangle, labels []string) matrixLayout {
	n := len(labels)
	l := matrixLayout{
		names:     make([]string, n),
		heading:   textStyle(13, true, color.Black),
		yLabel:    textStyle(labelSize(n), false, color.Black),
		axisTitle: textStyle(11, false, color.Black),
		barLabel:  textStyle(9, false, color.Black),
	}
	l.heading.XAlign, l.heading.YAlign = draw.XCenter, draw.YTop
	l.yLabel.XAlign, l.yLabel.YAlign = draw.XRight, draw.YCenter
	for i, s := range labels {
		l.names[i] = truncate(s, maxLabelRunes)
		l.labelW = max(l.labelW, l.yLabel.Width(l.names[i]))
	}
	l.y0 = area.Max.Y - l.heading.Rectangle(confusionHeading).Size().Y - 8
	if n == 0 {
		return l
	}

	left := l.axisTitle.Height("true label") + titleGap + l.labelW + labelGap
	right := barGap + barWidth + labelGap + l.barLabel.Width("100%") + labelGap + l.barLabel.Height(barCaption)
	availW := area.Max.X - area.Min.X - left - right
	availH := l.y0 - area.Min.Y

	// Column labels lie flat when they fit under their column and turn 45°
	// otherwise; turning changes the room left for rows, so size twice.
	l.xLabel = l.yLabel
	l.xLabel.XAlign, l.xLabel.YAlign = draw.XCenter, draw.YTop
	l.cw, l.ch = l.cellSize(n, availW, availH)
	if l.labelW > l.cw-2*labelGap-4 { // flat labels need a gap between them
		l.xLabel.Rotation = math.Pi / 4
		l.xLabel.XAlign, l.xLabel.YAlign = draw.XRight, draw.YCenter
		l.cw, l.ch = l.cellSize(n, availW, availH)
	}
	l.x0 = area.Min.X + left + (availW-vg.Length(n)*l.cw)/2
	return l
}

// cellSize splits availW, and the height left under the column labels,
// among n cells, keeping cells from getting much wider than tall.
func (l matrixLayout) cellSize(n int, availW, availH vg.Length) (w, h vg.Length) {
	h = (availH - l.bottom()) / vg.Length(n)
	w = min(availW/vg.Length(n), h*maxCellAspect)
	return w, h
}

// bottom is the height of the column labels and the axis title.
func (l matrixLayout) bottom() vg.Length {
	var h vg.Length
	for _, s := range l.names {
		r := l.xLabel.Rectangle(s)
		h = max(h, r.Max.Y-r.Min.Y)
	}
	return labelGap + h + titleGap + l.axisTitle.Height("predicted label")
}

// drawConfusion draws the confusion matrix as a heatmap coloured by row
// share (recall), so a rare class reads as clearly as a common one.
func drawConfusion(c draw.Canvas, labels []string, m [][]int) {
	l := layoutMatrix(c.Rectangle, labels)
	// Placed as plot.Plot places its title, so both panel titles line up.
	c.FillText(l.heading, vg.Point{X: c.Center().X, Y: c.Max.Y + l.heading.FontExtents().Descent}, confusionHeading)

	n := len(labels)
	if n == 0 {
		c.Max.Y = l.y0
		c.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 0xcc}, Width: 1})
		c.Stroke(c.Rectangle.Path())
		msg := textStyle(12, false, color.Gray{Y: 0x66})
		msg.XAlign, msg.YAlign = draw.XCenter, draw.YCenter
		c.FillText(msg, c.Center(), "no classes")
		return
	}
	rowTotal := make([]int, n)
	for i, row := range m {
		for _, v := range row {
			rowTotal[i] += v
		}
	}

	x0, y0, cw, ch := l.x0, l.y0, l.cw, l.ch
	x1, y1 := x0+vg.Length(n)*cw, y0-vg.Length(n)*ch

	decimals := 1
	if n >= denseClasses {
		decimals = 0
	}
	// Size the annotation font for the widest text this matrix has.
	var wideCount, widePct string
	for i, row := range m {
		for _, v := range row {
			if s := groupDigits(v); len(s) > len(wideCount) {
				wideCount = s
			}
			if v > 0 {
				if s := percent(float64(v)/float64(rowTotal[i]), decimals); len(s) > len(widePct) {
					widePct = s
				}
			}
		}
	}
	count := textStyle(countSize(cw, ch, wideCount, widePct), true, nil)
	count.XAlign = draw.XCenter
	pct := textStyle(count.Font.Size*pctScale, false, nil)
	pct.XAlign = draw.XCenter
	twoLines := annotationHeight(count, pct) <= ch-2

	grid := draw.LineStyle{Color: color.Gray{Y: 0xd9}, Width: 0.5}
	for i := range n {
		for j := range n {
			share := math.NaN()
			if rowTotal[i] > 0 {
				share = float64(m[i][j]) / float64(rowTotal[i])
			}
			bg := color.Color(color.White)
			if !math.IsNaN(share) {
				bg = blues(share)
			}
			cell := vg.Rectangle{
				Min: vg.Point{X: x0 + vg.Length(j)*cw, Y: y0 - vg.Length(i+1)*ch},
				Max: vg.Point{X: x0 + vg.Length(j+1)*cw, Y: y0 - vg.Length(i)*ch},
			}
			c.SetColor(bg)
			c.Fill(cell.Path())
			c.SetLineStyle(grid)
			c.Stroke(cell.Path())
			drawCell(c, cell, m[i][j], share, decimals, count, pct, twoLines, inkOn(bg))
		}
	}
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 0x80}, Width: 0.75})
	c.Stroke(vg.Rectangle{Min: vg.Point{X: x0, Y: y1}, Max: vg.Point{X: x1, Y: y0}}.Path())

	// Row and column labels.
	for i, s := range l.names {
		c.FillText(l.yLabel, vg.Point{X: x0 - labelGap, Y: y0 - (vg.Length(i)+0.5)*ch}, s)
		c.FillText(l.xLabel, vg.Point{X: x0 + (vg.Length(i)+0.5)*cw, Y: y1 - labelGap}, s)
	}
	at := l.axisTitle
	at.XAlign, at.YAlign = draw.XCenter, draw.YBottom
	c.FillText(at, vg.Point{X: (x0 + x1) / 2, Y: c.Min.Y}, "predicted label")
	at.Rotation = math.Pi / 2
	at.YAlign = draw.YBottom
	c.FillText(at, vg.Point{X: x0 - labelGap - l.labelW - titleGap, Y: (y0 + y1) / 2}, "true label")

	drawColourBar(c, x1+barGap, y1, y0, l.barLabel)
}

// labelSize shrinks class names as their number grows so that each still
// fits its row.
func labelSize(n int) vg.Length {
	switch {
	case n <= 4:
		return 11
	case n <= 8:
		return 10
	case n <= 12:
		return 9
	default:
		return 8
	}
}

// countSize is the largest count font for which the widest count and
// percentage fit a cw×ch cell one above the other.
func countSize(cw, ch vg.Length, wideCount, widePct string) vg.Length {
	const probeSize = 10
	count := textStyle(probeSize, true, nil)
	pct := textStyle(probeSize*pctScale, false, nil)
	wide := max(count.Width(wideCount), pct.Width(widePct))
	byWidth := probeSize * (cw - max(6, cw/8)) / wide // keep clear of the cell edges
	byHeight := probeSize * (ch - 3) / annotationHeight(count, pct)
	return max(minCountSize, min(maxCountSize, byWidth, byHeight))
}

// annotationHeight is the height of a count line over a percentage line.
func annotationHeight(count, pct text.Style) vg.Length {
	return count.Height("0") + lineGap(count) + pct.Height("0")
}

func lineGap(count text.Style) vg.Length { return count.Font.Size * 0.15 }

// drawCell writes the count and its share of the row in the cell. Zero
// cells get a quiet grey 0: on a 20-class matrix they are most cells and
// the eye should skip them.
func drawCell(c draw.Canvas, cell vg.Rectangle, v int, share float64, decimals int, count, pct text.Style, twoLines bool, ink color.Color) {
	mid := vg.Point{X: (cell.Min.X + cell.Max.X) / 2, Y: (cell.Min.Y + cell.Max.Y) / 2}
	if v == 0 {
		count.Font.Weight = xfont.WeightNormal
		count.Color = color.Gray{Y: 0xa0}
		count.YAlign = draw.YCenter
		c.FillText(count, mid, "0")
		return
	}
	count.Color, pct.Color = ink, ink
	cs := groupDigits(v)
	if !twoLines {
		count.YAlign = draw.YCenter
		c.FillText(count, mid, cs)
		return
	}
	total := annotationHeight(count, pct)
	count.YAlign = draw.YTop
	c.FillText(count, vg.Point{X: mid.X, Y: mid.Y + total/2}, cs)
	pct.YAlign = draw.YBottom
	c.FillText(pct, vg.Point{X: mid.X, Y: mid.Y - total/2}, percent(share, decimals))
}

// drawColourBar draws the 0–100% scale between y bottom and top at x.
func drawColourBar(c draw.Canvas, x, bottom, top vg.Length, sty text.Style) {
	const slices = 64
	h := (top - bottom) / slices
	for k := range slices {
		c.SetColor(blues((float64(k) + 0.5) / slices))
		// Overlap by a hair so no seams show between slices.
		c.Fill(vg.Rectangle{
			Min: vg.Point{X: x, Y: bottom + vg.Length(k)*h},
			Max: vg.Point{X: x + barWidth, Y: bottom + vg.Length(k+1)*h + 0.3},
		}.Path())
	}
	c.SetLineStyle(draw.LineStyle{Color: color.Gray{Y: 0x80}, Width: 0.5})
	c.Stroke(vg.Rectangle{Min: vg.Point{X: x, Y: bottom}, Max: vg.Point{X: x + barWidth, Y: top}}.Path())

	sty.XAlign, sty.YAlign = draw.XLeft, draw.YCenter
	var widest vg.Length
	for _, p := range []int{0, 25, 50, 75, 100} {
		y := bottom + (top-bottom)*vg.Length(p)/100
		c.StrokeLine2(draw.LineStyle{Color: color.Gray{Y: 0x80}, Width: 0.5}, x+barWidth, y, x+barWidth+2, y)
		s := strconv.Itoa(p) + "%"
		c.FillText(sty, vg.Point{X: x + barWidth + labelGap, Y: y}, s)
		widest = max(widest, sty.Width(s))
	}
	sty.Rotation = math.Pi / 2
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	c.FillText(sty, vg.Point{X: x + barWidth + labelGap + widest + labelGap, Y: (top + bottom) / 2}, barCaption)
}

// blues maps a share in [0, 1] onto ColorBrewer's sequential Blues, white
// to navy, which stays readable in greyscale and for colour-blind readers.
func blues(v float64) color.Color {
	stops := [...]uint32{0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6, 0x4292c6, 0x2171b5, 0x08519c, 0x08306b}
	v = min(1, max(0, v)) * float64(len(stops)-1)
	k := min(int(v), len(stops)-2)
	f := v - float64(k)
	a, b := stops[k], stops[k+1]
	mix := func(shift uint) uint8 {
		x, y := float64(a>>shift&0xff), float64(b>>shift&0xff)
		return uint8(math.Round(x + f*(y-x)))
	}
	return color.RGBA{R: mix(16), G: mix(8), B: mix(0), A: 0xff}
}

// inkOn picks black or white text for bg by its relative luminance (WCAG).
// The switch sits above WCAG's contrast crossover (0.18): white reads
// better on mid blues than the ratio alone suggests, and a diagonal of
// 60–70% recall should look like the darker cells around it.
func inkOn(bg color.Color) color.Color {
	const whiteBelow = 0.25
	r, g, b, _ := bg.RGBA()
	lin := func(c uint32) float64 {
		s := float64(c) / 0xffff
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	if 0.2126*lin(r)+0.7152*lin(g)+0.0722*lin(b) < whiteBelow {
		return color.White
	}
	return color.Black
}

// percent formats a row share without rounding a miss into "100%" or a
// hit into "0%".
func percent(share float64, decimals int) string {
	if math.IsNaN(share) {
		return "–"
	}
	p := 100 * share
	step := math.Pow(10, -float64(decimals))
	switch {
	case p > 0 && p < step:
		return "<" + strconv.FormatFloat(step, 'f', decimals, 64) + "%"
	case p < 100 && p > 100-step:
		return ">" + strconv.FormatFloat(100-step, 'f', decimals, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', decimals, 64) + "%"
}

// groupDigits writes n with thousands separators: 4,837.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// truncate cuts s to at most limit runes, marking the cut with "…".
func truncate(s string, limit int) string {
	r := []rune(s)
	if len(r) <= limit {
		return s
	}
	return string(r[:limit-1]) + "…"
}
