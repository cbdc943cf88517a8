package detect

import "unsafe"

// unsafeString borrows b as a string, as point.Decoder does.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
