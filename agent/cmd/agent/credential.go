package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stockwire/stockwire/agent/hubconn"
	"github.com/stockwire/stockwire/shared/atomicfile"
)

// loadOrCreateSecret returns the secret kept in dir/name, creating a random
// one (mode 0600) on first use.
func loadOrCreateSecret(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(buf)
	return secret, atomicfile.Write(path, []byte(secret+"\n"), 0o600)
}

// credentialFile holds, in the data dir, the credential an enrolment got.
const credentialFile = "credential"

// savedCredential returns the store credential given (--token, token) or
// saved by an earlier enrolment, or "" when this start must enrol with the
// join token. It never touches the network, so a start that cannot get a
// credential fails before anything else.
func savedCredential(c StoreConfig) (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir, credentialFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read saved credential: %w", err)
	}
	if token := string(bytes.TrimSpace(b)); token != "" {
		return token, nil
	}
	if c.JoinToken == "" && c.file {
		return "", errors.New("no store credential: give token, or join_token to enrol this store")
	} else if c.JoinToken == "" {
		return "", errors.New("no store credential: give --token, or --join-token and --store-name to enrol this store")
	}
	return "", nil
}

// enrol spends the store's join token to register it with the hub (the
// first of the hubURLs replicas that answers) and saves the credential it
// gets in the store's data dir.
func enrol(ctx context.Context, hubList string, c StoreConfig, hc *http.Client) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": c.Name, "url": c.URL})
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	hubURLs, err := hubconn.ParseHubURLs(hubList)
	if err != nil {
		return "", fmt.Errorf("--hub: %w", err)
	}
	var resp *http.Response
	var unreachable []error
	for _, hubURL := range hubURLs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(hubURL, "/")+"/api/v1/enrol", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+c.JoinToken)
		req.Header.Set("Content-Type", "application/json")
		if resp, err = hc.Do(req); err == nil {
			break
		}
		unreachable = append(unreachable, fmt.Errorf("%s: %w", hubURL, err))
	}
	if resp == nil {
		return "", fmt.Errorf("enrol with hub: hub unreachable: %w", errors.Join(unreachable...))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return "", fmt.Errorf("enrol with hub: %s: %s", resp.Status, e.Error.Message)
	}
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("enrol with hub: unexpected answer")
	}
	if err := atomicfile.Write(filepath.Join(c.DataDir, credentialFile), []byte(out.Token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save credential: %w", err)
	}
	return out.Token, nil
}
