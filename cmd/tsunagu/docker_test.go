package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerfile is the final stage of the repository's Dockerfile.
type dockerfile struct {
	build, final []string // instructions, one per logical line
}

func readDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	var d dockerfile
	stage := -1
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stage++
		}
		if stage == 0 {
			d.build = append(d.build, l)
		} else {
			d.final = append(d.final, l)
		}
	}
	return d
}

// The image runs as a non-root user with a data folder that user owns, and
// holds the production build (no embedded Redis). Where Docker runs, the
// image is built and `tsunagu demo` writes its database and key into the
// data folder as that user.
func TestDockerImageRunsAsNonrootWithWritableData(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	d := readDockerfile(t, filepath.Join(root, "Dockerfile"))
	var user, dataDir, workdir string
	chowned := map[string]string{} // destination → owner
	for _, l := range d.final {
		fields := strings.Fields(l)
		switch strings.ToUpper(fields[0]) {
		case "USER":
			user = fields[1]
		case "ENV":
			if m := regexp.MustCompile(`TSUNAGU_DATA_DIR=(\S+)`).FindStringSubmatch(l); m != nil {
				dataDir = m[1]
			}
		case "WORKDIR":
			if dataDir == "" && chowned[fields[1]] == "" {
				workdir = fields[1] // made by Docker as root unless it exists already
			}
		case "COPY":
			for _, f := range fields {
				if owner, ok := strings.CutPrefix(f, "--chown="); ok {
					chowned[fields[len(fields)-1]] = owner
				}
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "root" || uid == "0" {
		t.Fatalf("final stage runs as %q, want a non-root USER", user)
	}
	if dataDir == "" {
		t.Fatal("final stage sets no TSUNAGU_DATA_DIR")
	}
	owner, _, _ := strings.Cut(chowned[dataDir], ":")
	if owner != uid && !(owner == "nonroot" && uid == "65532") && !(owner == "65532" && uid == "nonroot") {
		t.Errorf("data folder %s is owned by %q (COPY --chown), the image runs as %q", dataDir, chowned[dataDir], user)
	}
	if workdir == dataDir {
		t.Errorf("WORKDIR %s comes before the data folder is created with its owner: Docker makes it root's", workdir)
	}
	built := false
	for _, l := range d.build {
		if strings.Contains(l, "go build") && strings.Contains(l, "./cmd/tsunagu") {
			built = true
			if !regexp.MustCompile(`-tags[ =]\S*\bprod\b`).MatchString(l) {
				t.Errorf("the image's binary is not the production build (-tags prod): %s", l)
			}
		}
	}
	if !built {
		t.Error("no go build of ./cmd/tsunagu in the build stage")
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(".dockerignore is missing: the local data folder (development key) would enter the build context")
	}
	for _, want := range []string{"data", ".git"} {
		if !regexp.MustCompile(`(?m)^/?` + regexp.QuoteMeta(want) + `/?$`).Match(ignore) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}

	if testing.Short() {
		t.Skip("-short: not building the image")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("Docker is not available here, the image is not built (checked the Dockerfile only): %v: %.200s", err, out)
	}
	tag := "tsunagu-test:" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if out, err := exec.Command("docker", "build", "-t", tag, root).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer exec.Command("docker", "image", "rm", "-f", tag).Run() //nolint:errcheck // best effort
	out, err := exec.Command("docker", "run", "--rm", tag, "demo").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is ready") {
		t.Fatalf("docker run %s demo (writes the database and key into %s): %v\n%s", tag, dataDir, err, out)
	}
}
