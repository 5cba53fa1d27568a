package app

import (
	"net/http"

	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/dashboard"
)

// DashboardFunction serves the web page: GET /api/dashboard.
const DashboardFunction = "Dashboard"

// dashboard answers the page (internal/dashboard), as text: the host
// passes a string body through as it is.
func (a *App) dashboard(w http.ResponseWriter, r *http.Request) {
	if _, err := decodeHTTP(r); err != nil {
		a.fail(w, http.StatusBadRequest, DashboardFunction, err)
		return
	}
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{
		Outputs: map[string]any{HTTPResponseBinding: customhandler.HTTPResponse{
			StatusCode: http.StatusOK,
			Headers: map[string]string{
				"Content-Type": "text/html; charset=utf-8",
				// The page holds no data; the API calls it makes are fresh.
				"Cache-Control": "no-cache",
			},
			Body: dashboard.Page,
		}},
		Logs: []string{},
	})
}
