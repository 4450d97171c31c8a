// The state file: AppliedSeq and the hub's target of every SKU as last
// saved, in stock-writer.json in the data directory, written atomically.
// AppliedSeq tells the hub where to resume after a restart; a figure that
// lags makes the hub resend changes that the products' stockwire_seq then
// filters out. The targets let the safety net compare the store with the
// hub's figures from the start, before the hub sends anything (on a
// resume with nothing new it sends nothing); a resent change newer than a
// saved target replaces it.

package stock

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/stockwire/stockwire/shared/atomicfile"
)

// stateFile is the content of stock-writer.json.
type stateFile struct {
	// Epoch is the store epoch AppliedSeq counts in (epoch.go); empty in a
	// file written before epochs, whose AppliedSeq the hub then ignores.
	Epoch      string                 `json:"epoch,omitempty"`
	AppliedSeq int64                  `json:"applied_seq"`
	Targets    map[string]savedTarget `json:"targets,omitempty"`
}

// savedTarget is one SKU's target and the sequence that set it.
type savedTarget struct {
	Target int64 `json:"target"`
	Seq    int64 `json:"seq"`
}

// load reads the state file; a missing file is a first start.
func (w *Writer) load() error {
	b, err := os.ReadFile(w.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("stock writer: read state: %w", err)
	default:
		var st stateFile
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("stock writer: decode state %s: %w", w.path, err)
		}
		w.epoch, w.applied = st.Epoch, st.AppliedSeq
		for sku, t := range st.Targets {
			s := w.state(sku)
			s.target, s.targetSeq, s.hasTarget = t.Target, t.Seq, true
		}
	}
	return nil
}

// unsaved reports whether AppliedSeq or a target moved since the last save.
func (w *Writer) unsaved() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied > w.saved || w.dirty
}

// save writes the state file when AppliedSeq or a target moved since the
// last save. Only Run calls it. The file is written straight from the
// SKUs' states through a small buffer, under mu; only the sync waits
// outside it.
func (w *Writer) save() error {
	w.mu.Lock()
	applied, dirty := w.applied, w.dirty
	if applied <= w.saved && !dirty {
		w.mu.Unlock()
		return nil
	}
	epoch := w.epoch
	f, err := atomicfile.Create(w.path, 0o600)
	if err == nil {
		bw := bufio.NewWriterSize(f, 64<<10)
		w.writeState(bw, applied)
		if err = bw.Flush(); err != nil {
			f.Abort()
		}
	}
	if err == nil {
		w.dirty = false
	}
	w.mu.Unlock()
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		w.mu.Lock()
		w.dirty = w.dirty || dirty
		w.mu.Unlock()
		return fmt.Errorf("save stock writer state (applied seq %d): %w", applied, err)
	}
	w.mu.Lock()
	if w.epoch == epoch { // else Welcome reset saved meanwhile
		w.saved = max(w.saved, applied)
	}
	w.mu.Unlock()
	return nil
}

// writeState writes the state file's content (a stateFile) for applied
// to bw, one SKU at a time: a store of 100,000 SKUs would otherwise build
// the whole file (about 4 MB) in memory at every save, or a map of them
// all. Errors stay in bw until its Flush. Caller holds mu.
func (w *Writer) writeState(bw *bufio.Writer, applied int64) {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	if w.epoch != "" {
		b = append(b, `"epoch":`...)
		b = appendJSONString(b, w.epoch)
		b = append(b, ',')
	}
	b = append(b, `"applied_seq":`...)
	b = strconv.AppendInt(b, applied, 10)
	first := true
	for sku, s := range w.skus {
		if !s.hasTarget {
			continue
		}
		if first {
			b = append(b, `,"targets":{`...)
			first = false
		} else {
			b = append(b, ',')
		}
		b = appendJSONString(b, sku)
		b = append(b, `:{"target":`...)
		b = strconv.AppendInt(b, s.target, 10)
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, s.targetSeq, 10)
		b = append(b, '}')
		bw.Write(b)
		b = b[:0]
	}
	if !first {
		b = append(b, '}')
	}
	bw.Write(append(b, '}'))
}

// appendJSONString appends s as a JSON string: as it is when it needs no
// escaping (SKUs are printable ASCII as a rule), else as encoding/json
// writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
