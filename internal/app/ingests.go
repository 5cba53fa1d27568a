package app

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// IngestsFunction lists the ingest records: GET /api/ingests.
const IngestsFunction = "Ingests"

// DefaultIngestsListed is how many records GET /api/ingests answers
// without ?limit=.
const DefaultIngestsListed = 100

// ingestView is one blob version in the answer of GET /api/ingests.
type ingestView struct {
	ID           int64     `json:"id"`
	Source       string    `json:"source"`
	ETag         string    `json:"etag"`
	Status       string    `json:"status"`
	RowsStored   int       `json:"rows_stored"`
	RowsRejected int       `json:"rows_rejected"`
	Error        string    `json:"error,omitempty"`
	Attempts     int       `json:"attempts"`
	Modified     time.Time `json:"modified"`
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// LeaseUntil: while running, until when the attempt at work holds the
	// version; a running record whose lease has passed is an attempt that
	// died, which the host's retry takes over.
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	ElapsedS   float64    `json:"elapsed_s"`
	RowsPerS   float64    `json:"rows_per_s"`
}

// ingestsAnswer is the answer of GET /api/ingests; NextBefore, when set,
// is the ?before= of the next page.
type ingestsAnswer struct {
	Ingests    []ingestView `json:"ingests"`
	NextBefore int64        `json:"next_before,omitempty"`
}

// ingests: GET /api/ingests lists the ingest records, newest first:
// ?source= one blob's versions (its name in incoming/, with or without
// "incoming/"), ?prefix= the blobs whose name starts with it (a folder,
// e.g. "_labels/"; likewise), ?status= one status, ?limit= (1 to 1,000, default 100)
// and ?before= (the next_before of the previous page).
func (a *App) ingests(w http.ResponseWriter, r *http.Request) {
	inv, err := decodeHTTP(r)
	if err != nil {
		a.fail(w, http.StatusBadRequest, IngestsFunction, err)
		return
	}
	f, err := ingestFilter(inv.HTTP.Query)
	if err != nil {
		a.apiFail(w, IngestsFunction, "", err)
		return
	}
	recs, err := a.Ingests.ListIngests(r.Context(), f)
	if err != nil {
		a.apiFail(w, IngestsFunction, "", err)
		return
	}
	now := time.Now()
	ans := ingestsAnswer{Ingests: make([]ingestView, len(recs))}
	for i, in := range recs {
		ans.Ingests[i] = viewOf(in, now)
	}
	if len(recs) == f.Limit {
		ans.NextBefore = recs[len(recs)-1].ID
	}
	respond(w, http.StatusOK, ans)
}

func viewOf(in tinyhead.Ingest, now time.Time) ingestView {
	v := ingestView{ID: in.ID, Source: in.Source, ETag: in.ETag, Status: string(in.Status), RowsStored: in.RowsOK,
		RowsRejected: in.RowsRejected, Error: in.Error, Attempts: in.Attempts, Modified: in.Modified,
		StartedAt: in.StartedAt, UpdatedAt: in.UpdatedAt}
	end := in.UpdatedAt
	if in.Status == tinyhead.IngestRunning {
		lease := in.LeaseUntil
		v.LeaseUntil, end = &lease, now
	}
	if d := end.Sub(in.StartedAt).Seconds(); d > 0 {
		v.ElapsedS = round(d, 1e3)
		v.RowsPerS = round(float64(in.RowsOK)/d, 10)
	}
	return v
}

func round(x, scale float64) float64 { return float64(int64(x*scale+0.5)) / scale }

// ingestFilter reads the query parameters of GET /api/ingests.
func ingestFilter(q map[string]string) (tinyhead.IngestFilter, error) {
	f := tinyhead.IngestFilter{Limit: DefaultIngestsListed}
	for key, val := range q {
		switch key {
		case "source", "prefix":
			name := ingest.SourceIn(config.IncomingContainer, val)
			// A name no blob can have is the caller's mistake (400),
			// not the store's.
			if err := rowcheck.Key(name, ""); err != nil {
				return f, tinyhead.Errorf(tinyhead.ErrInvalid, "%s: %v", key, err)
			}
			if key == "source" {
				f.Source = name
			} else {
				f.Prefix = name
			}
		case "status":
			switch st := tinyhead.IngestStatus(val); st {
			case tinyhead.IngestRunning, tinyhead.IngestDone, tinyhead.IngestFailed, tinyhead.IngestDeleted, tinyhead.IngestSuperseded:
				f.Status = st
			default:
				return f, tinyhead.Errorf(tinyhead.ErrInvalid, "status %q: want running, done, failed, deleted or superseded", val)
			}
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > tinyhead.MaxIngestsListed {
				return f, tinyhead.Errorf(tinyhead.ErrInvalid, "limit %q: want 1 to %d", val, tinyhead.MaxIngestsListed)
			}
			f.Limit = n
		case "before":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return f, tinyhead.Errorf(tinyhead.ErrInvalid, "before %q: want a record id (next_before of the previous page)", val)
			}
			f.Before = n
		case "code": // the function key, which the host checks
		default:
			return f, tinyhead.Errorf(tinyhead.ErrInvalid, "unknown query parameter %q (want source, prefix, status, limit or before)", key)
		}
	}
	return f, nil
}
