package file

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/sluicehq/sluice/stream"
)

// Position is a file task's position: the byte offset after the last complete line read, in the file
// identified by its device and inode numbers. As JSON: {"offset":1234,"dev":2049,"ino":131075}.
//
// The identity is what lets a task that was down while its file rotated find the file its offset belongs
// to (see the package doc). A position without dev and ino ({"offset":1234}, as Sluice wrote them before it
// followed rotation, or as an operator may write one to reset a task) means "this offset of whatever file is
// at the task's path when it is opened"; it is read as such, and the records after it carry the identity.
type Position struct {
	Offset int64 `json:"offset"`
	// Dev and Ino identify the file (stat's st_dev and st_ino). Ino 0 means no identity.
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
}

// ParsePosition reads a position written by the file source (with or without the file's identity).
func ParsePosition(pos stream.Position) (Position, error) {
	var p Position
	if err := json.Unmarshal(pos, &p); err != nil {
		return Position{}, err
	}
	if p.Offset < 0 {
		return Position{}, fmt.Errorf("offset %d is negative", p.Offset)
	}
	return p, nil
}

// Encode returns the position as the file source writes it, offset first.
func (p Position) Encode() stream.Position {
	b := make([]byte, 0, 64)
	b = append(b, `{"offset":`...)
	b = strconv.AppendInt(b, p.Offset, 10)
	if p.Ino != 0 {
		b = append(b, `,"dev":`...)
		b = strconv.AppendUint(b, p.Dev, 10)
		b = append(b, `,"ino":`...)
		b = strconv.AppendUint(b, p.Ino, 10)
	}
	return append(b, '}')
}

// PositionAt returns the position the source writes after reading offset bytes of the file now at path,
// identity included: what a record ending at that offset carries, and a way to reset a task to a byte offset
// of the current file. When path cannot be examined the position has no identity (it then means the offset
// of whatever file is at the path when the task is opened).
func PositionAt(path string, offset int64) stream.Position {
	p := Position{Offset: offset}
	if info, err := os.Stat(path); err == nil {
		id := identityOf(info)
		p.Dev, p.Ino = id.dev, id.ino
	}
	return p.Encode()
}

// identity is a file's device and inode numbers; ino 0 means unknown (a system without inodes).
type identity struct {
	dev, ino uint64
}

func (id identity) known() bool { return id.ino != 0 }

func (id identity) String() string {
	return fmt.Sprintf("dev %d inode %d", id.dev, id.ino)
}
