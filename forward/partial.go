package forward

import (
	"fmt"
	"strings"
)

// PartialError is a batch the upstream stored except for some lines, which
// it rejected for good. The Runner dead-letters exactly those lines and
// counts the rest as delivered.
type PartialError struct {
	Rejected []Rejection // in batch order, not overlapping
}

// Rejection is a run of whole lines, batch[Off:End], and why the upstream
// refused it.
type Rejection struct {
	Off, End int
	Status   int // HTTP status, or 0
	Err      error
}

func (e *PartialError) Error() string {
	msgs := make([]string, 0, min(len(e.Rejected), 3))
	for i, r := range e.Rejected {
		if i == 3 {
			msgs = append(msgs, "…")
			break
		}
		msgs = append(msgs, fmt.Sprintf("bytes %d-%d: %v", r.Off, r.End, r.Err))
	}
	return fmt.Sprintf("partially rejected, %d runs of lines: %s", len(e.Rejected), strings.Join(msgs, "; "))
}
