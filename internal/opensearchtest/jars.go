package opensearchtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/mavenjars"
)

// tools locates java, fetches the jars of test/opensearch/pom.xml when missing or stale (internal/mavenjars,
// as `make opensearch-jars` does) and compiles the launcher of test/opensearch/src when its source changed,
// returning the JVM's class path.
func tools() (java, classpath string, err error) {
	java, err = mavenjars.Java()
	if err != nil {
		return "", "", fmt.Errorf("opensearchtest: OpenSearch 2.19 needs Java 17: %w", err)
	}
	root, err := mavenjars.RepoRoot()
	if err != nil {
		return "", "", fmt.Errorf("opensearchtest: %w", err)
	}
	dir := filepath.Join(root, "test", "opensearch")
	lib, err := mavenjars.Ensure(context.Background(), dir)
	if err != nil {
		return "", "", fmt.Errorf("opensearchtest: the OpenSearch jars: %w", err)
	}
	classes, err := mavenjars.Compile(context.Background(), lib, filepath.Join(dir, "src"))
	if err != nil {
		return "", "", fmt.Errorf("opensearchtest: the launcher: %w", err)
	}
	return java, filepath.Join(lib, "*") + string(os.PathListSeparator) + classes, nil
}
