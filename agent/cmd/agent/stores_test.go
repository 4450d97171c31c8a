package main

import (
	"strings"
	"testing"
)

func TestParseStores(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c.DataDir = "/var/lib/agent"
	env := func(name string) (string, bool) {
		if name == "SITE_A_SECRET" {
			return "cs_from_env", true
		}
		return "", false
	}

	t.Run("OK", func(t *testing.T) {
		stores, err := parseStores("stores.yaml", []byte(`stores:
  - name: site-a
    url: https://shops.example/site-a/wp-json/wc/v3/
    consumer_key: ck_a
    consumer_secret_env: SITE_A_SECRET
    token: sw_a
    rate_limit: 5
  - name: b
    url: https://b.example
    consumer_key: ck_b
    consumer_secret: cs_b
    join_token: sw_join_b
    store_edits: accept
`), c, env)
		if err != nil {
			t.Fatal(err)
		}
		want := []StoreConfig{
			{Name: "site-a", URL: "https://shops.example/site-a", ConsumerKey: "ck_a", ConsumerSecret: "cs_from_env", Token: "sw_a",
				RateLimit: 5, StoreEdits: "revert", DataDir: "/var/lib/agent/site-a", WebhookPath: "/webhooks/woocommerce/site-a", file: true},
			{Name: "b", URL: "https://b.example", ConsumerKey: "ck_b", ConsumerSecret: "cs_b", JoinToken: "sw_join_b",
				RateLimit: 20, StoreEdits: "accept", DataDir: "/var/lib/agent/b", WebhookPath: "/webhooks/woocommerce/b", file: true},
		}
		if len(stores) != len(want) {
			t.Fatalf("%d stores, want %d", len(stores), len(want))
		}
		for i := range want {
			if got := stores[i]; got != want[i] {
				t.Errorf("store %d = %+v, want %+v", i, got, want[i])
			}
		}
	})

	const entry = "stores:\n  - name: a\n    url: http://a.example\n    consumer_key: ck\n    consumer_secret: cs\n    token: t\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"UnknownKey", entry + "    consumer_secert: x\n", "stores.yaml: yaml: unmarshal errors:\n  line 7: field consumer_secert not found"},
		{"UnknownTopLevelKey", "hub: http://hub\n" + entry, "line 1: field hub not found"},
		{"NoStores", "stores: []\n", "stores.yaml: no stores"},
		{"BadName", strings.Replace(entry, "name: a", "name: Site A", 1), `stores.yaml:2: store "Site A": name: want`},
		{"DuplicateName", entry + strings.TrimPrefix(entry, "stores:\n"), `stores.yaml:7: store "a": name already used on line 2`},
		{"MissingEnv", strings.Replace(entry, "consumer_secret: cs", "consumer_secret_env: NOPE", 1),
			`stores.yaml:2: store "a": consumer_secret_env: environment variable NOPE is not set`},
		{"BothForms", entry + "    token_env: SITE_A_SECRET\n", `stores.yaml:2: store "a": token and token_env: give one`},
		{"NoKeys", strings.Replace(entry, "    consumer_key: ck\n", "", 1), `stores.yaml:2: store "a": consumer_key and consumer_secret are required`},
		{"BadURL", strings.Replace(entry, "http://a.example", "a.example", 1), `stores.yaml:2: store "a": url "a.example": want http(s)://host`},
		{"BadStoreEdits", entry + "    store_edits: ignore\n", `store_edits "ignore": want revert or accept`},
		{"BadType", entry + "    rate_limit: fast\n", "line 7: cannot unmarshal !!str `fast` into float64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStores("stores.yaml", []byte(tc.yaml), c, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "cs_from_env") {
				t.Errorf("the error holds a secret: %v", err)
			}
		})
	}
}
