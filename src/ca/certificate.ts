// The CA's certificate and its leaves, built field by field (@peculiar/asn1-x509 for the DER
// structures) and signed with node:crypto: ECDSA P-256 with SHA-256 throughout.
import { createHash, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x from '@peculiar/asn1-x509';
import type { Constraints } from './names.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const COMMON_NAME = '2.5.4.3';
const ORGANIZATION = '2.5.4.10';

interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** a CA certificate with the key that signs with it */
export interface Issuer {
  certificate: x.Certificate;
  key: KeyObject;
}

/**
 * A self-signed CA: basicConstraints CA with pathLen 0 and keyUsage keyCertSign + cRLSign (both
 * critical), and critical name constraints: the permitted dNSNames, their excluded subtrees, and
 * every IPv4 and IPv6 address excluded, so that no verifier takes a leaf for an address from it.
 */
export function caCertificate(key: KeyObject, publicKey: KeyObject, commonName: string, constraints: Constraints, validity: Validity): string {
  const dns = (names: string[]) => names.map((n) => new x.GeneralSubtree({ base: new x.GeneralName({ dNSName: n }) }));
  const addresses = ['0.0.0.0/0', '::/0'].map((a) => new x.GeneralSubtree({ base: new x.GeneralName({ iPAddress: a }) }));
  const nameConstraints = new x.NameConstraints({
    permittedSubtrees: new x.GeneralSubtrees(dns(constraints.permitted)),
    excludedSubtrees: new x.GeneralSubtrees([...dns(constraints.excluded), ...addresses]),
  });
  const subject = name([[ORGANIZATION, 'proxyd'], [COMMON_NAME, commonName]]);
  return signed({ key }, subject, publicKey, validity, [
    extension(x.id_ce_basicConstraints, true, new x.BasicConstraints({ cA: true, pathLenConstraint: 0 })),
    extension(x.id_ce_keyUsage, true, new x.KeyUsage(x.KeyUsageFlags.keyCertSign | x.KeyUsageFlags.cRLSign)),
    extension(x.id_ce_subjectKeyIdentifier, false, new x.SubjectKeyIdentifier(keyId(publicKey))),
    extension(x.id_ce_nameConstraints, true, nameConstraints),
  ]);
}

/** A server certificate for one host name: SAN dNSName, serverAuth only, signed by `issuer`. */
export function leafCertificate(issuer: Issuer, publicKey: KeyObject, host: string, validity: Validity): string {
  const issuerKeyId = issuer.certificate.tbsCertificate.extensions?.find((e) => e.extnID === x.id_ce_subjectKeyIdentifier);
  return signed(issuer, name([[COMMON_NAME, host]]), publicKey, validity, [
    extension(x.id_ce_basicConstraints, true, new x.BasicConstraints({ cA: false })),
    extension(x.id_ce_keyUsage, true, new x.KeyUsage(x.KeyUsageFlags.digitalSignature)),
    extension(x.id_ce_extKeyUsage, false, new x.ExtendedKeyUsage([SERVER_AUTH])),
    extension(x.id_ce_subjectAltName, false, new x.SubjectAlternativeName([new x.GeneralName({ dNSName: host })])),
    ...(issuerKeyId ? [extension(x.id_ce_authorityKeyIdentifier, false, new x.AuthorityKeyIdentifier({ keyIdentifier: AsnConvert.parse(issuerKeyId.extnValue, x.SubjectKeyIdentifier) }))] : []),
  ]);
}

export function parseCertificate(pem: string): x.Certificate {
  return AsnConvert.parse(new X509Certificate(pem).raw, x.Certificate);
}

/** the dNSName constraints a CA certificate carries (undefined: none, so not one of ours) */
export function constraintsOf(certificate: x.Certificate): Constraints | undefined {
  const ext = certificate.tbsCertificate.extensions?.find((e) => e.extnID === x.id_ce_nameConstraints);
  if (!ext) return undefined;
  const nc = AsnConvert.parse(ext.extnValue, x.NameConstraints);
  const dns = (trees?: x.GeneralSubtrees) => Array.from(trees ?? []).flatMap((t) => (t.base.dNSName === undefined ? [] : [t.base.dNSName]));
  return { permitted: dns(nc.permittedSubtrees), excluded: dns(nc.excludedSubtrees) };
}

function signed(issuer: { certificate?: x.Certificate; key: KeyObject }, subject: x.Name, publicKey: KeyObject, validity: Validity, extensions: x.Extension[]): string {
  const algorithm = new x.AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const tbs = new x.TBSCertificate({
    version: x.Version.v3,
    serialNumber: serialNumber(),
    signature: algorithm,
    issuer: issuer.certificate?.tbsCertificate.subject ?? subject,
    subject,
    validity: new x.Validity(validity),
    subjectPublicKeyInfo: AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), x.SubjectPublicKeyInfo),
    extensions: new x.Extensions(extensions),
  });
  const signature = sign('sha256', Buffer.from(AsnConvert.serialize(tbs)), issuer.key);
  const der = Buffer.from(AsnConvert.serialize(new x.Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: toArrayBuffer(signature) })));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

function extension(extnID: string, critical: boolean, value: object): x.Extension {
  return new x.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function name(attributes: Array<[string, string]>): x.Name {
  return new x.Name(attributes.map(([type, text]) => new x.RelativeDistinguishedName([new x.AttributeTypeAndValue({ type, value: new x.AttributeValue({ utf8String: text }) })])));
}

/** 16 random bytes, positive and without a leading zero byte (RFC 5280: at most 20 octets, unique per CA) */
function serialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return toArrayBuffer(bytes);
}

/** RFC 5280 §4.2.1.2 (1): the SHA-1 of the subjectPublicKey bits */
function keyId(publicKey: KeyObject): ArrayBuffer {
  const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), x.SubjectPublicKeyInfo);
  return toArrayBuffer(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest());
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return new Uint8Array(b).buffer;
}
