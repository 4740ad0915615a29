//go:build unix

package file

import (
	"os"
	"syscall"
)

// identityOf returns the device and inode numbers of the file info describes.
func identityOf(info os.FileInfo) identity {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return identity{}
	}
	return identity{dev: uint64(st.Dev), ino: uint64(st.Ino)} //nolint:unconvert // int types differ by platform
}
