// Package hubapi is the contract of the hub's HTTP API: its request and
// answer types, its error shape and codes, and a Go client. The hub command's
// client subcommands, the demo, the figure commands and the process tests
// all speak to the hub through it. hub/web encodes and decodes these types,
// converting from and to the hub's domain types; the full document is
// hub/web/openapi.json. It imports neither hub nor agent packages.
package hubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Client calls the API of the hub at BaseURL (no trailing slash) with the
// admin token.
type Client struct {
	BaseURL    string
	AdminToken string
	// HTTP defaults to http.DefaultClient.
	HTTP *http.Client
}

// Do sends a request and decodes a 2xx JSON answer into out (if not nil).
// An error answer in the API's error shape becomes an *Error; any other
// becomes an error naming the status.
func (c *Client) Do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			d := eb.Error
			return &Error{Code: d.Code, Message: d.Message, Field: d.Field, Lines: d.Lines}
		}
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// DoJSON sends in (if not nil) as JSON and decodes the answer into out.
func (c *Client) DoJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	return c.Do(ctx, method, path, ctype, body, out)
}
