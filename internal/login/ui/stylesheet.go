package ui

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"math"
	"regexp"
	"strconv"

	"github.com/ninesid/nines/internal/tenant"
)

//go:embed static/base.css
var baseCSS []byte

// DefaultPrimaryColor brands a tenant that sets no valid colour of its own.
const DefaultPrimaryColor = "#1f5fd1"

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Stylesheet returns tenant t's stylesheet: the base CSS behind custom properties for
// its primary colour (validated "#rrggbb", DefaultPrimaryColor otherwise) and a text
// colour readable on it, and a strong ETag of the bytes. Serve it with Content-Type
// text/css at a per-tenant URL on the pages' origin (CSP style-src 'self').
func (r *Renderer) Stylesheet(t tenant.Tenant) (css []byte, etag string) {
	color := t.PrimaryColor
	if !colorPattern.MatchString(color) {
		color = DefaultPrimaryColor
	}
	head := ":root { --primary: " + color + "; --on-primary: " + onColor(color) + "; }\n"
	css = make([]byte, 0, len(head)+len(baseCSS))
	css = append(append(css, head...), baseCSS...)
	sum := sha256.Sum256(css)
	return css, `"` + hex.EncodeToString(sum[:12]) + `"`
}

// onColor picks white or near-black text for a "#rrggbb" background, whichever has the
// higher WCAG 2 contrast ratio.
func onColor(hexColor string) string {
	var lum float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hexColor[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += w * c
	}
	const darkLum = 0.0116 // #1f2328, the body text colour
	if (1.05)/(lum+0.05) >= (lum+0.05)/(darkLum+0.05) {
		return "#ffffff"
	}
	return "#1f2328"
}
