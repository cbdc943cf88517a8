package ingest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rivulet-edge/rivulet/ingest"
	"github.com/rivulet-edge/rivulet/ingest/ingesttest"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	// mosquitto reads the files after dropping root for its own user.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rivulet test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := pki{ca: writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key := newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMQTTMutualTLS connects to mosquitto over TLS with a client
// certificate, verifying the broker against a private CA.
func TestMQTTMutualTLS(t *testing.T) {
	p := newPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.ca, "certfile "+p.serverCert, "keyfile "+p.serverKey,
		"require_certificate true")
	cfg := sourceConfig(t, strings.Replace(url, "tcp://", "mqtts://", 1))
	cfg.TLS = ingest.TLSConfig{CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey}
	rec := &recorder{ack: true}
	stop := runSource(t, newSource(t, cfg, rec, nil))
	rec.waitUp(t, 1)
	stop()
}

// TestMQTTTLSVerifiesBroker refuses a broker whose certificate another CA
// signed.
func TestMQTTTLSVerifiesBroker(t *testing.T) {
	p, other := newPKI(t), newPKI(t)
	url := ingesttest.Mosquitto(t, "cafile "+p.ca, "certfile "+p.serverCert, "keyfile "+p.serverKey)
	cfg := sourceConfig(t, strings.Replace(url, "tcp://", "ssl://", 1))
	cfg.TLS = ingest.TLSConfig{CAFile: other.ca}
	failed := make(chan struct{}, 1)
	logger := slog.New(&signalHandler{Handler: ingesttest.Logger(t).Handler(), msg: "cannot connect to broker; retrying", c: failed})
	rec := &recorder{}
	src, err := ingest.NewMQTT(cfg, rec, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop := runSource(t, src)
	select {
	case <-failed:
	case <-time.After(waitTimeout):
		t.Fatal("connected to a broker signed by an unknown CA")
	}
	stop()
	if rec.ups() != 0 {
		t.Fatal("connected")
	}
}
