package console

import (
	"bytes"
	"errors"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/stockwire/stockwire/hub"
)

// pageNames are the templates in templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "error", "overview", "stores", "skus", "orders", "problems"}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{"when": when, "age": age}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded directory is ours
	}
	return sub
}

// when formats a time for the pages, "never" for none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// age says how long ago d was, roughly: "42s", "5m", "3h", "2d".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(max(d, 0)/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}

// view is what every page template gets: Data is the page's own.
type view struct {
	Page     string
	CSRF     string
	LoggedIn bool
	Data     any
}

// render writes a page with the console's security headers. Nothing is
// written if the template fails.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s session, data any) {
	var buf bytes.Buffer
	if err := c.pages[name].Execute(&buf, view{Page: name, CSRF: s.csrf, LoggedIn: s.id != "", Data: data}); err != nil {
		c.Logger.Error("render console page", "page", name, "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders err: a hub error's message with its status, anything else
// logged and shown as "Internal error."
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s session, err error) {
	status := http.StatusInternalServerError
	msg := "Internal error."
	var he *hub.Error
	if errors.As(err, &he) && he.Code != hub.EINTERNAL {
		msg = he.Message
		switch he.Code {
		case hub.EINVALID:
			status = http.StatusBadRequest
		case hub.ENOTFOUND:
			status = http.StatusNotFound
		case hub.ECONFLICT:
			status = http.StatusConflict
		case hub.EUNAUTHORIZED:
			status = http.StatusUnauthorized
		case hub.EFORBIDDEN:
			status = http.StatusForbidden
		}
	} else {
		c.Logger.Error("console request", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	c.render(w, r, status, "error", s, msg)
}

// pageFunc loads a page: its template name and data.
type pageFunc func(r *http.Request, s session) (name string, data any, err error)

// page serves a page to a logged-in browser and sends others to /login.
func (c *Console) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if errors.Is(err, errNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		} else if err != nil {
			c.fail(w, r, session{}, err)
			return
		}
		name, data, err := fn(r, s)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		c.render(w, r, http.StatusOK, name, s, data)
	})
}

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

// actionFunc runs a form's POST and answers it (usually a redirect).
type actionFunc func(w http.ResponseWriter, r *http.Request, s session) error

// action runs a form POST of a logged-in browser, after checking that it
// came from the console's own page (origin, CSRF token).
func (c *Console) action(fn actionFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.session(r)
		if errors.Is(err, errNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		} else if err != nil {
			c.fail(w, r, session{}, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if !sameOrigin(r) || !validCSRF(r, s) {
			c.render(w, r, http.StatusForbidden, "error", s, "This form is stale or was not sent from the console; reload the page and try again.")
			return
		}
		if err := fn(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// pathID parses the {id} of the request's path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, hub.Errorf(hub.EINVALID, "%q is not an id.", r.PathValue("id"))
	}
	return id, nil
}

// formInt parses a whole number from a form field.
func formInt(r *http.Request, field string) (int64, error) {
	v, err := strconv.ParseInt(r.PostFormValue(field), 10, 64)
	if err != nil {
		return 0, hub.FieldErrorf(field, hub.EINVALID, "%s must be a whole number.", field)
	}
	return v, nil
}
