package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// chromium drives a headless Chromium over the DevTools protocol (a
// WebSocket of JSON calls): just what the console's browser test needs,
// Runtime.evaluate and a screenshot, with no library.
type chromium struct {
	t    *testing.T
	conn *websocket.Conn

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpAnswer // by call id; guarded by mu
	readErr error                    // set once the reader stopped; guarded by mu
	done    chan struct{}            // closed when the reader stops
}

type cdpAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium runs Debian's chromium headless with a DevTools port and
// connects to it. The browser ends with the test.
func startChromium(t *testing.T) *chromium {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install chromium): %v", err)
	}
	profile := t.TempDir()
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--window-size=1280,900", "--remote-debugging-port=0", "--user-data-dir="+profile, "about:blank")
	// Chromium starts helper processes: end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	// Chromium writes its port and browser path to DevToolsActivePort.
	var wsURL string
	deadline := time.Now().Add(2 * time.Minute)
	for wsURL == "" {
		if b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if lines := strings.Split(string(b), "\n"); len(lines) >= 2 && lines[1] != "" {
				wsURL = "ws://127.0.0.1:" + lines[0] + lines[1]
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("chromium exited: %s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium wrote no DevToolsActivePort within two minutes: %s", stderr.String())
		}
	}
	conn, _, err := websocket.Dial(t.Context(), wsURL, nil)
	if err != nil {
		t.Fatalf("dial chromium's DevTools: %v", err)
	}
	conn.SetReadLimit(64 << 20) // screenshots
	c := &chromium{t: t, conn: conn, waiting: map[int64]chan cdpAnswer{}, done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() {
		conn.CloseNow()
		<-c.done
	})
	return c
}

// read hands each answer to its call and drops events.
func (c *chromium) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		var msg struct {
			ID int64 `json:"id"`
			cdpAnswer
		}
		if json.Unmarshal(data, &msg) != nil || msg.ID == 0 {
			continue
		}
		c.mu.Lock()
		ch := c.waiting[msg.ID]
		delete(c.waiting, msg.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- msg.cdpAnswer
		}
	}
}

// call runs a DevTools method, in a page's session when sessionID is
// set, and decodes its result into out (nil to ignore it).
func (c *chromium) call(sessionID, method string, params, out any) error {
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Minute)
	defer cancel()
	ch := make(chan cdpAnswer, 1)
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		return c.readErr
	}
	c.nextID++
	id := c.nextID
	c.waiting[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if sessionID != "" {
		msg["sessionId"] = sessionID
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case a, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection closed", method)
		}
		if a.Error != nil {
			return fmt.Errorf("%s: %s", method, a.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(a.Result, out)
		}
		return nil
	}
}

// tab is one page of the browser.
type tab struct {
	c       *chromium
	session string
}

// NewTab opens a blank page.
func (c *chromium) NewTab() *tab {
	c.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		c.t.Fatal(err)
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		c.t.Fatal(err)
	}
	return &tab{c: c, session: attached.SessionID}
}

// Navigate loads url and waits until its document is complete.
func (p *tab) Navigate(url string) {
	p.c.t.Helper()
	if err := p.c.call(p.session, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		p.c.t.Fatal(err)
	}
	p.WaitFor("page "+url+" loaded", `document.readyState === "complete" && location.href !== "about:blank"`)
}

// Eval runs a JavaScript expression (awaiting a promise) and returns its
// value as JSON.
func (p *tab) Eval(expr string) (json.RawMessage, error) {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.c.call(p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return nil, err
	}
	if e := r.ExceptionDetails; e != nil {
		return nil, errors.New(e.Text + " " + e.Exception.Description)
	}
	return r.Result.Value, nil
}

// MustEval is Eval failing the test on an error.
func (p *tab) MustEval(expr string) json.RawMessage {
	p.c.t.Helper()
	v, err := p.Eval(expr)
	if err != nil {
		p.c.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// Text returns the text of the element matching selector, "" if none.
func (p *tab) Text(selector string) string {
	p.c.t.Helper()
	var s string
	raw := p.MustEval(`(document.querySelector(` + strconv.Quote(selector) + `) || {}).textContent || ""`)
	if err := json.Unmarshal(raw, &s); err != nil {
		p.c.t.Fatal(err)
	}
	return s
}

// WaitFor polls a JavaScript condition until it is true, for up to a
// generous two minutes (the machine is shared).
func (p *tab) WaitFor(what, cond string) {
	p.c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := p.Eval(`!!(` + cond + `)`)
		if err == nil && string(v) == "true" {
			return
		}
		if time.Now().After(deadline) {
			body, _ := p.Eval(`document.documentElement ? document.documentElement.outerHTML : ""`)
			p.c.t.Fatalf("waited two minutes for %s (%s): last error %v; page:\n%s", what, cond, err, body)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
}

// Screenshot saves the page as a PNG at path.
func (p *tab) Screenshot(path string) {
	p.c.t.Helper()
	var shot struct {
		Data string `json:"data"`
	}
	if err := p.c.call(p.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot); err != nil {
		p.c.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		p.c.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.c.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.c.t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	p.c.t.Logf("screenshot: %s", abs)
}
