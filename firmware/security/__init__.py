# Security cores for the OCPP 1.6 security whitepaper (edition 3), issue #5: a strict DER reader and
# writer (der.py), PEM (pem.py), X.509 certificates and chains (x509.py), RSA and ECDSA P-256
# (rsa.py, ecdsa.py), firmware signature checks (signature.py), the PKCS#10 request (csr.py) and the
# certificate store with the charge point's own key and certificate (certstore.py).
# Sans-I/O and portable: time comes in as epoch seconds, randomness as a function, storage as hal Storage.
