package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// TestSecretsStayOut runs the agent with an MQTT password and an InfluxDB
// token handed over as systemd credentials (relative *_file names resolved
// in $CREDENTIALS_DIRECTORY), with debug logs and an upstream that keeps
// failing, and checks that neither secret appears in the logs, /metrics or
// the status page.
func TestSecretsStayOut(t *testing.T) {
	const password, token = "pw-s3cr3t-7f1d", "tok-s3cr3t-9a2e"
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if os.Getenv("RIVULET_REQUIRE_INTEROP") == "1" {
			t.Fatal("mosquitto_passwd not found")
		}
		t.Skip("mosquitto_passwd not found")
	}
	dir := t.TempDir()
	// mosquitto started as root reads its password file as user mosquitto.
	pwdir, err := os.MkdirTemp("", "rivulet-mosquitto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pwdir) })
	os.Chmod(pwdir, 0o755)
	pwfile := filepath.Join(pwdir, "mosquitto.passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pwfile, "edge", password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	os.Chmod(pwfile, 0o644)
	broker := ingesttest.Mosquitto(t, "allow_anonymous false", "password_file "+pwfile)
	creds := filepath.Join(dir, "credentials")
	os.Mkdir(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "mqtt-password"), []byte(password+"\n"), 0o600)
	os.WriteFile(filepath.Join(creds, "influx-token"), []byte(token+"\n"), 0o600)
	dead := ingesttest.FreeAddr(t) // nothing listens: every delivery fails and is logged
	cloud := `  - name: cloud
    type: influx
    url: http://` + dead + `/api/v2/write?org=o&bucket=b
    token_file: influx-token
    retry: {initial: 50ms, max: 200ms}
`
	cfg := siteConfig(t, dir, broker, "", cloud)
	text, _ := os.ReadFile(cfg)
	writeConfig(t, cfg, strings.Replace(string(text), "client_id: rivulet-test", "client_id: rivulet-test\n      username: edge\n      password_file: mqtt-password", 1))
	web := ingesttest.FreeAddr(t)
	agent := startAgent(t, cfg, "CREDENTIALS_DIRECTORY="+creds, "RIVULET_HTTP_LISTEN="+web)
	waitSubscribed(t, agent)
	rs := readings(1, 1, 200, 3)
	if err := publishAuth(broker, rs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "failed deliveries to the dead upstream", func() bool {
		return strings.Contains(agent.output(), "cloud") && strings.Contains(agent.output(), "level=WARN") ||
			strings.Contains(agent.output(), "level=ERROR")
	})
	var pages strings.Builder
	for _, path := range []string{"/metrics", "/", "/api/status"} {
		resp, err := http.Get("http://" + web + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pages.Write(b)
	}
	agent.stop(t)
	for _, secret := range []string{password, token} {
		if strings.Contains(agent.output(), secret) {
			t.Errorf("secret %q in the logs:\n%s", secret, agent.output())
		}
		if strings.Contains(pages.String(), secret) {
			t.Errorf("secret %q served over HTTP", secret)
		}
	}
}

// publishAuth publishes readings as user edge; the password is the test's
// own, so the publisher reads it from the same place the agent does.
func publishAuth(broker string, rs []reading) error {
	return publishWith(context.Background(), broker, "pub-secrets", "edge", "pw-s3cr3t-7f1d", rs)
}
