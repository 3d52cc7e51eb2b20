-- Server signing keys (ID tokens, JARM, JWT access tokens, signed introspection).
-- The private JWK is stored only encrypted: AES-256-GCM under the key-encryption key from the
-- server configuration, with the kid as associated data so a ciphertext cannot be moved to
-- another row. Times are unix seconds.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    -- Position of the key in its algorithm's rotation history. Unique per alg so that two server
    -- processes bootstrapping or rotating at the same moment cannot both add a key: the second
    -- insert fails on signing_keys_alg_generation_key and that process reloads instead.
    generation      BIGINT NOT NULL,
    public_jwk      TEXT NOT NULL,
    private_jwk_enc BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    -- Published from created_at, signs from activates_at, stops signing at retires_at and leaves
    -- the JWKS at unpublish_at (the overlap that keeps earlier signatures verifiable).
    activates_at    BIGINT NOT NULL,
    retires_at      BIGINT,
    unpublish_at    BIGINT,
    CONSTRAINT signing_keys_alg_generation_key UNIQUE (alg, generation)
);
