terraform {
  required_providers {
    xenapi = {
      source = "xenapi/xenapi"
    }
  }
}

# Every setting may instead come from the environment: XENAPI_URL,
# XENAPI_USERNAME, XENAPI_PASSWORD, XENAPI_INSECURE, XENAPI_CA_CERTIFICATE,
# XENAPI_TLS_FINGERPRINT_SHA256. A configuration that only uses
# xenapi_mac_address and the provider functions needs none of them.
provider "xenapi" {
  url      = "https://xcp-master.example.com"
  username = "root"
  password = var.xenapi_password

  # The pool master's self-signed certificate, pinned by its SHA-256
  # fingerprint (openssl x509 -noout -fingerprint -sha256 -in cert.pem).
  tls_fingerprint_sha256 = "3F:8A:11:C2:5B:0E:77:94:AD:21:6C:E0:58:9B:F3:42:10:CC:7D:65:A9:0B:E8:31:4F:D6:92:07:BB:1E:58:C4"

  # MACs the provider generates for VIFs: "local" (default) or "xensource".
  mac_prefix = "local"
}

variable "xenapi_password" {
  type      = string
  sensitive = true
}
