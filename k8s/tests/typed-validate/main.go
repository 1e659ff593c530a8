// typed-validate decodes custom resources strictly into the operators' own Go
// API types: an unknown field, a misspelled one or a value of the wrong type
// fails, exactly as the operator's client would reject it.
//
//	typed-validate [FILE...]   (YAML documents; standard input when no FILE)
//
// Prints one "ok - ..." or "FAIL - ..." line per document, in order, and exits
// 1 when any failed. A kind it has no Go type for fails too: nothing passes
// unvalidated.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cnpgv1 "github.com/cloudnative-pg/api/pkg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// The kinds each API version may hold, with a constructor of their Go type.
var types = map[string]map[string]func() any{
	"postgresql.cnpg.io/v1": {
		"Cluster":         func() any { return &cnpgv1.Cluster{} },
		"Pooler":          func() any { return &cnpgv1.Pooler{} },
		"ScheduledBackup": func() any { return &cnpgv1.ScheduledBackup{} },
		"Backup":          func() any { return &cnpgv1.Backup{} },
		"Database":        func() any { return &cnpgv1.Database{} },
		"ImageCatalog":    func() any { return &cnpgv1.ImageCatalog{} },
		"Publication":     func() any { return &cnpgv1.Publication{} },
		"Subscription":    func() any { return &cnpgv1.Subscription{} },
	},
	"monitoring.coreos.com/v1": {
		"ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
		"PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
		"PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
		"Probe":          func() any { return &monitoringv1.Probe{} },
	},
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// validate returns a description of the document and nil, or the first error.
func validate(doc []byte) (string, error) {
	raw, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return "document", fmt.Errorf("not YAML: %w", err)
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return "document", fmt.Errorf("not an object: %w", err)
	}
	ident := fmt.Sprintf("%s/%s (%s)", h.Kind, h.Metadata.Name, h.APIVersion)
	newObject, known := types[h.APIVersion][h.Kind]
	if !known {
		return ident, errors.New("no Go type for this kind: nothing to validate it against")
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(newObject()); err != nil {
		return ident, err
	}
	return ident, nil
}

// documents splits a YAML stream at "---" lines, dropping empty documents.
func documents(r io.Reader) ([][]byte, error) {
	var docs [][]byte
	var current bytes.Buffer
	flush := func() {
		if strings.TrimSpace(current.String()) != "" {
			docs = append(docs, bytes.Clone(current.Bytes()))
		}
		current.Reset()
	}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			flush()
			continue
		}
		current.WriteString(line + "\n")
	}
	flush()
	return docs, scanner.Err()
}

func main() {
	inputs := os.Args[1:]
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	failed := false
	for _, input := range inputs {
		var r io.Reader = os.Stdin
		if input != "-" {
			f, err := os.Open(input)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			defer f.Close()
			r = f
		}
		docs, err := documents(r)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, doc := range docs {
			ident, err := validate(doc)
			if err != nil {
				failed = true
				fmt.Printf("FAIL - %s: %s\n", ident, strings.Join(strings.Fields(err.Error()), " "))
			} else {
				fmt.Printf("ok - %s decodes strictly into the operator's Go type\n", ident)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
