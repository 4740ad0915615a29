package schemaregistry

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/stream"
)

// Error codes of Confluent Schema Registry, returned in the "error_code" field of an HTTP error answer and
// carried by *Error. The HTTP status of a five-digit code is its first three digits; 409 is its own status.
const (
	CodeSubjectNotFound            = 40401
	CodeVersionNotFound            = 40402
	CodeSchemaNotFound             = 40403
	CodeSubjectSoftDeleted         = 40404
	CodeSubjectNotSoftDeleted      = 40405
	CodeVersionSoftDeleted         = 40406
	CodeVersionNotSoftDeleted      = 40407
	CodeSubjectCompatibilityNotSet = 40408
	CodeIncompatibleSchema         = 409
	CodeInvalidSchema              = 42201
	CodeInvalidVersion             = 42202
	CodeInvalidCompatibility       = 42203
	CodeInvalidMode                = 42204
	CodeOperationNotPermitted      = 42205
	CodeStoreError                 = 50001
	CodeTimeout                    = 50002
	CodeForwardingError            = 50003
)

// Error is a refusal or failure of the registry, with Confluent's error code. The embedded registry returns
// it from its Go methods and serves it as {"error_code":Code,"message":Message}; the Client returns the one
// the external registry answered. An Error with CodeIncompatibleSchema wraps stream.ErrIncompatibleSchema.
type Error struct {
	Code    int
	Message string
	// Err is the underlying cause (the log's error for CodeStoreError), or nil.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	return e.Message
}

// Unwrap returns stream.ErrIncompatibleSchema for CodeIncompatibleSchema, else the cause.
func (e *Error) Unwrap() error {
	if e.Code == CodeIncompatibleSchema {
		return stream.ErrIncompatibleSchema
	}
	return e.Err
}

// HTTPStatus is the HTTP status Confluent answers with for the error's code.
func (e *Error) HTTPStatus() int {
	switch {
	case e.Code >= 10000:
		return e.Code / 100
	case e.Code >= 100 && e.Code < 600:
		return e.Code
	}
	return 500
}

// ErrorCode returns the Confluent error code of err (an *Error in its chain), or 0.
func ErrorCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func subjectNotFound(subject string) *Error {
	return &Error{Code: CodeSubjectNotFound, Message: fmt.Sprintf("Subject '%s' not found.", subject)}
}

func versionNotFound(subject string, version int) *Error {
	return &Error{Code: CodeVersionNotFound, Message: fmt.Sprintf("Version %d not found in subject '%s'.", version, subject)}
}

func schemaIDNotFound(id int) *Error {
	return &Error{Code: CodeSchemaNotFound, Message: fmt.Sprintf("Schema %d not found", id)}
}

func invalidSchema(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidSchema, Message: "Invalid schema: " + fmt.Sprintf(format, args...)}
}
