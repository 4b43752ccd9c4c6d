-- 004: sessions no longer bump token_version. A server records its own sign-ins and
-- sign-outs in its token cache in O(1) (http/auth_refresh.c); a full reload of every
-- token and session on each sign-in made session churn cost O(n) per request.
-- Revoking or expiring a token still bumps token_version (001's triggers on tokens),
-- and the reload drops that token's sessions.
DROP TRIGGER sessions_ins;
DROP TRIGGER sessions_upd;
