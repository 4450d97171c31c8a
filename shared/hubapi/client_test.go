package hubapi_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stockwire/stockwire/shared/hubapi"
)

func TestClient_DoJSON(t *testing.T) {
	t.Parallel()
	var gotAuth, gotBody, gotType string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotType = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		var b strings.Builder
		_, _ = io.Copy(&b, r.Body)
		gotBody = b.String()
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"sku":"TEE","on_hand":4}`))
		case "/lines":
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"error":{"code":"unprocessable","message":"Bad lines.","lines":[{"line":3,"message":"on_hand \"x\" is not an integer"}]}}`))
		case "/field":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"invalid","message":"on_hand must not be negative.","field":"on_hand"}}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("upstream down\n"))
		}
	}))
	t.Cleanup(ts.Close)
	c := hubapi.Client{BaseURL: ts.URL, AdminToken: "admin-secret"}

	t.Run("OK", func(t *testing.T) {
		var st hubapi.SKUStock
		if err := c.DoJSON(t.Context(), "PUT", "/ok", hubapi.CountRequest{OnHand: new(int64(4))}, &st); err != nil {
			t.Fatal(err)
		}
		if st.SKU != "TEE" || st.OnHand != 4 {
			t.Fatalf("decoded %+v", st)
		}
		if gotAuth != "Bearer admin-secret" || gotType != "application/json" || gotBody != `{"on_hand":4}` {
			t.Fatalf("sent Authorization %q, Content-Type %q, body %q", gotAuth, gotType, gotBody)
		}
	})
	t.Run("ErrorWithField", func(t *testing.T) {
		err := c.DoJSON(t.Context(), "PUT", "/field", hubapi.CountRequest{OnHand: new(int64(-1))}, nil)
		var ae *hubapi.Error
		if !errors.As(err, &ae) || ae.Code != hubapi.CodeInvalid || ae.Field != "on_hand" {
			t.Fatalf("err=%#v, want an *hubapi.Error invalid on on_hand", err)
		}
	})
	t.Run("ErrorWithLines", func(t *testing.T) {
		err := c.Do(t.Context(), "POST", "/lines", "text/csv", strings.NewReader("A,main,x\n"), nil)
		if got := hubapi.ErrorCode(err); got != hubapi.CodeUnprocessable {
			t.Fatalf("code=%q, want %q (%v)", got, hubapi.CodeUnprocessable, err)
		}
		if !strings.Contains(err.Error(), "line 3: on_hand") {
			t.Fatalf("err=%q does not list the bad line", err)
		}
	})
	t.Run("NotTheAPIsShape", func(t *testing.T) {
		err := c.DoJSON(t.Context(), "GET", "/elsewhere", nil, nil)
		if err == nil || hubapi.ErrorCode(err) != "" || !strings.Contains(err.Error(), "502") {
			t.Fatalf("err=%v, want a plain error naming the status", err)
		}
	})
}
