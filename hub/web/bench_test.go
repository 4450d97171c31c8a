package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkServer_PostgreSQL measures whole API requests (HTTP, auth, JSON,
// PostgreSQL) on one connection: reads of one SKU and physical counts.
func BenchmarkServer_PostgreSQL(b *testing.B) {
	for _, bc := range []struct {
		name, method, path, body string
	}{
		{"GetSKU", "GET", "/api/v1/skus/TEE-M", ""},
		{"SetCount", "PUT", "/api/v1/skus/TEE-M/locations/main", `{"on_hand":%d}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustPGServerB(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			do := func(i int) {
				body := bc.body
				if strings.Contains(body, "%d") {
					body = fmt.Sprintf(body, i%1000)
				}
				req, _ := http.NewRequest(bc.method, p.ts.URL+bc.path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status=%d", resp.StatusCode)
				}
			}
			reqSet, _ := http.NewRequest("PUT", p.ts.URL+"/api/v1/skus/TEE-M/locations/main", strings.NewReader(`{"on_hand":1}`))
			reqSet.Header.Set("Authorization", "Bearer "+adminToken)
			if resp, err := client.Do(reqSet); err != nil {
				b.Fatal(err)
			} else {
				resp.Body.Close()
			}
			start := time.Now()
			i := 0
			for b.Loop() {
				do(i)
				i++
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "req/s")
		})
	}
}
