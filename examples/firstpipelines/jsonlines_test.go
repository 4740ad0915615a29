package firstpipelines_test

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/sinks/elasticsearch"
	"github.com/sluicehq/sluice/sources/file"
	"github.com/sluicehq/sluice/stages"
	"github.com/sluicehq/sluice/topology"
)

// jsonLinesToElasticsearch indexes a JSON-lines file of users into Elasticsearch, one document per line
// named by the line's "id" field, with each e-mail masked before it reaches Kafka.
func jsonLinesToElasticsearch(path, esURL string) (*topology.Topology, error) {
	src, err1 := file.New(file.Config{Paths: []string{path}, Format: file.JSONLines})
	mask, err2 := stages.MaskField("mask-email", stages.MaskFieldConfig{Fields: []string{"email"}, Replacement: "****"})
	// The file source keys each line by its file's path, so the id is chosen: the line's "id" field.
	index, err3 := elasticsearch.New(elasticsearch.Config{URLs: []string{esURL}, Index: "users", ID: "{field:id}"})
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	t := topology.New("users-search")
	users := t.Topic("users")                  // JSON values (the default codec)
	t.Source("files", src).Via(mask).To(users) // before Kafka: the topic never holds an e-mail
	t.Flow("index").From(users).To(index)
	return t, t.Validate()
}

func Example_jsonLinesToElasticsearch() {
	env := start()
	defer env.close()
	path := env.writeFile("users.jsonl",
		`{"id":1,"name":"Ada","email":"ada@example.com","plan":"pro"}`,
		`{"id":2,"name":"Grace","email":"grace@example.com","plan":"free","tags":["admin"]}`,
		`{"id":3,"name":"Linus","email":"linus@example.com","plan":"free","address":{"city":"Helsinki"}}`)

	t, err := jsonLinesToElasticsearch(path, env.esURL)
	check(err)
	env.run(t, func() bool { return env.count("users") == 3 })
	for _, doc := range env.documents("users") {
		fmt.Println(doc.ID, string(doc.Source))
	}
	// Output:
	// 1 {"email":"****","id":1,"name":"Ada","plan":"pro"}
	// 2 {"email":"****","id":2,"name":"Grace","plan":"free","tags":["admin"]}
	// 3 {"address":{"city":"Helsinki"},"email":"****","id":3,"name":"Linus","plan":"free"}
}
