package file

import "github.com/sluicehq/sluice/sources"

// Bounded returns the source with StopAtEnd set (sources.Bounded): in a batch run each task reads its file
// from the saved position to the end as it finds it, and ends; a file that does not exist fails the task.
// The returned source holds nothing to close.
func (s *Source) Bounded() sources.Source {
	cfg := s.cfg
	cfg.StopAtEnd = true
	return &Source{cfg: cfg}
}

var _ sources.Bounded = (*Source)(nil)
