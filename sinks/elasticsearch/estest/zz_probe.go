package estest

import (
	_ "github.com/blevesearch/bleve/v2"
	_ "github.com/blevesearch/bleve/v2/search/query"
	_ "github.com/elastic/go-elasticsearch/v8"
	_ "github.com/elastic/go-elasticsearch/v8/esutil"
	_ "github.com/elastic/go-elasticsearch/v8/typedapi/types"
)
