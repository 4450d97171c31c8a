// The state file: AppliedSeq as last saved, in stock-writer.json in the
// data directory, written atomically. It only tells the hub where to resume
// after a restart; a figure that lags makes the hub resend changes that the
// products' stockwire_seq then filters out.

package stock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/stockwire/stockwire/shared/atomicfile"
)

// stateFile is the content of stock-writer.json.
type stateFile struct {
	AppliedSeq int64 `json:"applied_seq"`
}

// load reads AppliedSeq from the state file; a missing file is a first
// start.
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
		w.applied = st.AppliedSeq
	}
	return nil
}

// unsaved reports whether AppliedSeq moved since it was last saved.
func (w *Writer) unsaved() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied > w.saved
}

// save writes AppliedSeq to disk when it moved since the last save. Only
// Run calls it.
func (w *Writer) save() error {
	w.mu.Lock()
	applied, saved := w.applied, w.saved
	w.mu.Unlock()
	if applied <= saved {
		return nil
	}
	b, _ := json.Marshal(stateFile{AppliedSeq: applied})
	if err := atomicfile.Write(w.path, b, 0o600); err != nil {
		return fmt.Errorf("save applied seq %d: %w", applied, err)
	}
	w.mu.Lock()
	w.saved = applied
	w.mu.Unlock()
	return nil
}
