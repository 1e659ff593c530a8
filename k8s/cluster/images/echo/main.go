// The cluster self-test's workload (image docker.io/saga/echo:local), a static
// program with no shell beside it:
//
//	echo                 serve HTTP on :8080, answering "<hostname> <path>"
//	echo get URL         print the body of GET URL (exit 1 on failure)
//	echo lookup NAME     print NAME's addresses from the pod's resolver
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) == 3 {
		if err := client(os.Args[1], os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	host, _ := os.Hostname()
	if dir := os.Getenv("ECHO_DATA"); dir != "" {
		f, err := os.OpenFile(dir+"/starts", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = fmt.Fprintln(f, host)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", host, r.URL.Path)
	})
	fmt.Println("echo: listening on :8080")
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func client(verb, arg string) error {
	switch verb {
	case "get":
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(arg)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", arg, resp.Status)
		}
		_, err = io.Copy(os.Stdout, resp.Body)
		return err
	case "lookup":
		addrs, err := net.LookupHost(arg)
		if err != nil {
			return err
		}
		fmt.Println(addrs)
		return nil
	}
	return fmt.Errorf("usage: echo [get URL | lookup NAME]")
}
