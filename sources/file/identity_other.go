//go:build !unix

package file

import "os"

// identityOf returns no identity where files have no inode numbers: positions then carry only the offset,
// and rotation is detected only by a file at the path becoming shorter than the offset read.
func identityOf(os.FileInfo) identity { return identity{} }
