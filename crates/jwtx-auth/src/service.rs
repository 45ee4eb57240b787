//! [`Auth`]: the auth flows over the store traits, with typed outcomes. The routes
//! (`routes/`) are a thin HTTP skin over these methods; an application can call them directly
//! (a gRPC front end, a CLI, a custom login form).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use jwtx::store::{
    Logged, PasswordChange, Revocation, RevocationStore, Rotation, RotationPolicy, ServiceStore,
    Session, SessionCreated, SessionCursor, SessionStore, StoreError, User, UserStore,
};
use jwtx::{Clock, Codec, Issued, NumericDate};
use jwtx_axum::{JwtConfig, JwtManager, JwtManagerBuilder, Location};
use zeroize::Zeroizing;

use crate::error::ApiError;
use crate::events::{AuthEvent, EventSink, Refused, SessionEnd, TracingEvents};
use crate::hints::RevocationHints;
use crate::limiter::LoginLimiter;
use crate::passwords::{PasswordError, PasswordHasher};
use crate::revocations::{Follow, Revocations};
use crate::throttle::LoginThrottle;
use crate::users::UserCache;

/// Every store the flows need, as one object: users, sessions and the revocation log.
pub trait AuthStore: UserStore + SessionStore + RevocationStore + fmt::Debug {}
impl<T: UserStore + SessionStore + RevocationStore + fmt::Debug> AuthStore for T {}

/// The session rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Seconds after a rotation during which the replaced refresh token still gets an access
    /// token (concurrent refreshes of one client); 0 turns the window off. Default 10.
    pub refresh_reuse_grace: u64,
    /// Seconds without a refresh after which a session ends. Default 14 days.
    pub session_idle_timeout: u64,
    /// A session's absolute lifetime in seconds, whatever refreshes happen. Default: the
    /// codec's refresh token lifetime (30 days if refresh tokens never expire).
    pub session_lifetime: u64,
}

impl AuthSettings {
    /// The defaults for a codec whose refresh tokens live `refresh_ttl`.
    pub fn for_refresh_ttl(refresh_ttl: Option<Duration>) -> Self {
        AuthSettings {
            refresh_reuse_grace: 10,
            session_idle_timeout: 14 * 86_400,
            session_lifetime: refresh_ttl.map_or(30 * 86_400, |d| d.as_secs()),
        }
    }
}

/// Why [`AuthBuilder::build`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The revocation log could not be read.
    Store(StoreError),
    /// The token settings cannot work ([`JwtManagerBuilder::try_build`]).
    Manager(jwtx_axum::BuildError),
    /// The password hasher could not be made or warmed up.
    Passwords(PasswordError),
    /// The follower's settings cannot work ([`Follow::validate`]).
    Follow(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Store(e) => write!(f, "cannot read the revocation log: {e}"),
            BuildError::Manager(e) => write!(f, "the token settings cannot work: {e}"),
            BuildError::Passwords(e) => write!(f, "password hashing: {e}"),
            BuildError::Follow(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Store(e) => Some(e),
            BuildError::Manager(e) => Some(e),
            BuildError::Passwords(e) => Some(e),
            BuildError::Follow(_) => None,
        }
    }
}

type Customize = Box<dyn FnOnce(JwtManagerBuilder) -> JwtManagerBuilder + Send>;

/// Builds an [`Auth`]: `Auth::builder(store, codec).config(…).build().await`.
pub struct AuthBuilder {
    store: Arc<dyn AuthStore>,
    codec: Codec,
    config: JwtConfig,
    settings: Option<AuthSettings>,
    hasher: Option<PasswordHasher>,
    limiter: Option<Arc<dyn LoginLimiter>>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    customize: Option<Customize>,
    follow: Follow,
    hints: Option<Arc<dyn RevocationHints>>,
    services: Option<Arc<dyn ServiceStore>>,
}

impl fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("store", &self.store)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// Token locations, cookies, CSRF and error style (jwtx-axum's flask-jwt-extended
    /// settings). Default: [`JwtConfig::default`].
    pub fn config(mut self, config: JwtConfig) -> Self {
        self.config = config;
        self
    }

    /// The session rules. Default: [`AuthSettings::for_refresh_ttl`] of the codec.
    pub fn settings(mut self, settings: AuthSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The password hasher. Default: Argon2id with the OWASP parameters
    /// ([`PasswordHasher::new`]).
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// The login limiter. Default: an in-process [`LoginThrottle`] with its defaults.
    pub fn limiter(mut self, limiter: Arc<dyn LoginLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Where audit events go. Default: [`TracingEvents`].
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// The clock sessions and tokens are dated by (tests). Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How the revocation log is followed and how stale the mirror may grow before tokens
    /// answer 503. Default: [`Follow::default`] (500 ms, 5 s).
    pub fn follow(mut self, follow: Follow) -> Self {
        self.follow = follow;
        self
    }

    /// Wake-up hints shared with the other instances of a deployment (`jwtx-redis`): told of
    /// every entry this process appends, and waking its follower when another does.
    pub fn hints(mut self, hints: Arc<dyn RevocationHints>) -> Self {
        self.hints = Some(hints);
        self
    }

    /// The services whose credentials may read the revocation feed (`GET /revocations`):
    /// usually the same store, as a [`ServiceStore`]. Without it the feed refuses every
    /// credential (401).
    pub fn services(mut self, services: Arc<dyn ServiceStore>) -> Self {
        self.services = Some(services);
        self
    }

    /// Adds to the token manager before it is built (an error handler, the verified-token
    /// cache, claims loaders). The revocation check and user loader are the service's.
    pub fn manager(
        mut self,
        f: impl FnOnce(JwtManagerBuilder) -> JwtManagerBuilder + Send + 'static,
    ) -> Self {
        self.customize = Some(Box::new(f));
        self
    }

    /// Reads the revocation log, warms the password hasher up (the dummy hash for unknown
    /// users, so the first such login costs no more than the others) and builds the token
    /// manager: its revocation check reads the in-process mirror, its user loader the user
    /// cache. Refused when the settings cannot work.
    pub async fn build(self) -> Result<Auth, BuildError> {
        let codec = self.codec.with_clock(self.clock.clone());
        let settings = self
            .settings
            .unwrap_or_else(|| AuthSettings::for_refresh_ttl(codec.ttl(&jwtx::TokenType::Refresh)));
        let purge_margin = codec
            .ttl(&jwtx::TokenType::Access)
            .map_or(u64::MAX, |d| d.as_secs());
        self.follow.validate().map_err(BuildError::Follow)?;
        let revocations = Revocations::load_with(
            self.store.clone() as Arc<dyn RevocationStore>,
            self.clock.clone(),
            purge_margin,
            self.follow,
            self.hints,
        )
        .await
        .map_err(BuildError::Store)?;
        let users = Arc::new(UserCache::new(self.store.clone() as Arc<dyn UserStore>));
        let mut builder = JwtManager::builder(codec).config(self.config);
        if let Some(customize) = self.customize {
            builder = customize(builder);
        }
        let jwt = with_lookups(builder, revocations.clone(), users.clone())
            .try_build()
            .map_err(BuildError::Manager)?;
        let hasher = match self.hasher {
            Some(h) => h,
            None => PasswordHasher::new(Default::default()).map_err(BuildError::Passwords)?,
        };
        hasher.warm_up().await.map_err(BuildError::Passwords)?;
        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(LoginThrottle::default()));
        let locations = &jwt.config().token_location;
        let tokens_in_body = locations.iter().any(|l| *l != Location::Cookies);
        let tokens_in_cookies = locations.contains(&Location::Cookies);
        Ok(Auth(Arc::new(Inner {
            jwt,
            store: self.store,
            revocations,
            users,
            hasher,
            limiter,
            events: self.events,
            clock: self.clock,
            settings,
            tokens_in_body,
            tokens_in_cookies,
            services: self.services,
        })))
    }
}

/// The revocation check against the in-process mirror and the user loader in front of the
/// store. Both read memory before making their future and move no clone of a shared `Arc`
/// into it when memory answers: its count is a cache line every core writes.
fn with_lookups(
    builder: JwtManagerBuilder,
    revocations: Arc<Revocations>,
    users: Arc<UserCache>,
) -> JwtManagerBuilder {
    builder
        .revocation_check(move |token| {
            // `sid` as the verifying pass read it: no second parse per protected request.
            // An error (a log entry this version cannot read) answers 503: fail closed.
            std::future::ready(revocations.check(jwtx::store::TokenRef {
                kid: token.header().kid(),
                jti: token.jti(),
                sid: token.sid(),
                sub: token.sub(),
                iat: token.claims().iat,
            }))
        })
        .user_loader(move |token| {
            let found = users.cached(token.sub()).ok_or_else(|| users.clone());
            async move {
                match found {
                    Ok(user) => Ok(user),
                    Err(users) => users.get(token.sub()).await,
                }
            }
        })
}

/// The auth flows: login, refresh with rotation and reuse detection, logout, logout
/// everywhere, password change and sessions, over one store. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct Auth(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    jwt: JwtManager,
    store: Arc<dyn AuthStore>,
    revocations: Arc<Revocations>,
    users: Arc<UserCache>,
    hasher: PasswordHasher,
    limiter: Arc<dyn LoginLimiter>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    tokens_in_body: bool,
    tokens_in_cookies: bool,
    services: Option<Arc<dyn ServiceStore>>,
}

/// A login attempt.
#[derive(Debug)]
pub struct LoginRequest<'a> {
    /// The user name as typed.
    pub username: &'a str,
    /// The password as typed.
    pub password: Zeroizing<String>,
    /// The client address (login limits count by it).
    pub ip: IpAddr,
    /// The client's `User-Agent`, kept with the session (cut to 256 characters).
    pub user_agent: Option<&'a str>,
}

/// A password change by the owner of a fresh token.
#[derive(Debug)]
pub struct PasswordChangeRequest<'a> {
    /// The token's identity.
    pub user: &'a str,
    /// The token's session: it survives the change; every other one ends.
    pub session: Option<&'a str>,
    /// The current password, as typed.
    pub current_password: Zeroizing<String>,
    /// The new password.
    pub new_password: Zeroizing<String>,
    /// The client address (wrong current passwords count with the login limits).
    pub ip: IpAddr,
}

/// Tokens a flow issued.
#[derive(Debug)]
pub struct Tokens {
    /// The access token.
    pub access: Issued,
    /// The refresh token: absent for a refresh in the reuse grace window, or of a token that
    /// belongs to no session.
    pub refresh: Option<Issued>,
    /// The session the tokens belong to.
    pub session: Option<String>,
}

/// What a refresh token presented to [`Auth::refresh`] says.
#[derive(Clone, Copy, Debug)]
pub struct Presented<'a> {
    /// Its `jti`.
    pub jti: &'a str,
    /// Its session (`sid` claim).
    pub session: Option<&'a str>,
}

/// One page of a user's live sessions, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPage {
    /// The sessions on this page (idle-expired ones left out).
    pub sessions: Vec<Session>,
    /// Where the next page starts, if there may be one.
    pub next: Option<SessionCursor>,
}

/// The largest page [`Auth::sessions`] returns.
pub const MAX_PAGE: u32 = 100;

/// What a token being logged out says: its identity, session, `jti` and `exp`.
#[derive(Clone, Copy, Debug)]
pub struct LoggingOut<'a> {
    /// Its `sub`.
    pub user: &'a str,
    /// Its session.
    pub session: Option<&'a str>,
    /// Its `jti`.
    pub jti: Option<&'a str>,
    /// Its `exp`.
    pub exp: Option<NumericDate>,
}

impl Auth {
    /// A builder for the flows over `store`, signing with `codec`.
    pub fn builder(store: Arc<dyn AuthStore>, codec: Codec) -> AuthBuilder {
        AuthBuilder {
            store,
            codec,
            config: JwtConfig::default(),
            settings: None,
            hasher: None,
            limiter: None,
            events: Arc::new(TracingEvents),
            clock: Arc::new(jwtx::SystemClock),
            customize: None,
            follow: Follow::default(),
            hints: None,
            services: None,
        }
    }

    /// The token manager: issuing, verifying, cookies. The extractors find it through
    /// `FromRef<Auth>`.
    pub fn jwt(&self) -> &JwtManager {
        &self.0.jwt
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn AuthStore> {
        &self.0.store
    }

    /// The service credentials the revocation feed accepts, if configured
    /// ([`AuthBuilder::services`]).
    pub fn services(&self) -> Option<&Arc<dyn ServiceStore>> {
        self.0.services.as_ref()
    }

    /// The revocation log and its in-process mirror.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.0.revocations
    }

    /// The user loader's cache.
    pub fn users(&self) -> &Arc<UserCache> {
        &self.0.users
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.0.hasher
    }

    /// The session rules.
    pub fn settings(&self) -> &AuthSettings {
        &self.0.settings
    }

    /// The clock sessions are dated by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// Whether responses carry tokens in their body (a token location other than cookies is
    /// on) and in cookies.
    pub fn token_transport(&self) -> (bool, bool) {
        (self.0.tokens_in_body, self.0.tokens_in_cookies)
    }

    fn event(&self, event: AuthEvent<'_>) {
        self.0.events.record(&event);
    }

    /// Keeps the process current until `shutdown` changes: follows the revocation log
    /// (`Revocations::follow`) and purges the login limiter once a minute. Spawn it once per
    /// process: without it the revocation mirror is never read again, and once it is older
    /// than [`Follow::max_lag`] every protected request answers 503 (no token is vouched for).
    pub async fn maintain(self, shutdown: tokio::sync::watch::Receiver<bool>) {
        let follower = self.0.revocations.clone().follow(shutdown.clone());
        let limiter = self.0.limiter.clone();
        let mut stop = shutdown;
        let purger = async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(60)) => limiter.purge(),
                    _ = stop.changed() => return,
                }
            }
        };
        tokio::join!(follower, purger);
    }

    /// Creates the account `name` with `password` (the rule of
    /// [`check_new_password`](crate::passwords::check_new_password)) and `roles`.
    /// [`ApiError::Conflict`] when the name is taken.
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        roles: &[&str],
    ) -> Result<(), ApiError> {
        if name.is_empty() || name.len() > crate::MAX_NAME_BYTES {
            return Err(ApiError::BadRequest(format!(
                "a user name is 1 to {} bytes",
                crate::MAX_NAME_BYTES
            )));
        }
        let password = Zeroizing::new(password.to_owned());
        if let Err(e) = crate::passwords::check_new_password(&password.clone().into()) {
            return Err(ApiError::BadRequest(format!("password: {e}")));
        }
        let password_hash = self.0.hasher.hash(password).await.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::Unavailable
        })?;
        let user = User {
            name: name.to_owned(),
            password_hash,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            created_at: self.0.clock.now(),
            generation: 0,
            demo: false,
        };
        self.0.store.create_user(user).await?;
        self.0.users.forget(name);
        Ok(())
    }

    /// `POST /login`: checks the limits, verifies the password (an unknown name runs the same
    /// Argon2 work), and starts a session: a fresh access token and a refresh token.
    pub async fn login(&self, req: LoginRequest<'_>) -> Result<Tokens, ApiError> {
        let s = &self.0;
        let (username, ip) = (req.username, req.ip);
        if let Err(refusal) = s.limiter.check(username, ip).await {
            self.event(AuthEvent::LoginRefused {
                typed: username,
                reason: Refused::Throttled,
                ip,
            });
            return Err(refusal.into());
        }
        let user = s.store.get_user(username).await?;
        // At most a few verifications queue per typed name (known or not), except for an
        // address that logged in as it before; and the whole queue is bounded (passwords.rs).
        let spared = s.limiter.recently_succeeded(username, ip).await;
        let verdict = s
            .hasher
            .verify_for(
                username,
                spared,
                req.password.clone(),
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await
            .map_err(|e| {
                let reason = match e {
                    PasswordError::UserBusy { .. } => Some(Refused::NameBusy),
                    PasswordError::Overloaded { .. } => Some(Refused::Overloaded),
                    _ => None,
                };
                if let Some(reason) = reason {
                    self.event(AuthEvent::LoginRefused {
                        typed: username,
                        reason,
                        ip,
                    });
                }
                ApiError::password_check(&e)
            })?;
        let user = match user {
            Some(u) if verdict.ok => u,
            known => {
                s.limiter.record_failure(username, ip).await;
                self.event(AuthEvent::LoginFailed {
                    account: known.as_ref().map(|u| u.name.as_str()),
                    typed: username,
                    credentials_changed: false,
                    ip,
                });
                return Err(ApiError::BadCredentials);
            }
        };
        s.limiter.record_success(username, ip).await;
        if verdict.needs_rehash {
            self.rehash(&user, req.password).await?;
        }
        let (sid, tokens) = self.start_session(&user, req.user_agent, ip).await?;
        self.event(AuthEvent::LoginSucceeded {
            user: &user.name,
            session: &sid,
            ip,
        });
        Ok(tokens)
    }

    /// Creates the session of a login whose password was verified at `user.generation`, and
    /// its tokens. Created only if the user still has those credentials: a password change (or
    /// a deletion) that committed meanwhile wins ([`ApiError::BadCredentials`]). A login in the
    /// very second of a cut-off of the user (logout everywhere, a password change) waits for
    /// the next second and signs again, as the cut-off revokes what was issued in its second.
    async fn start_session(
        &self,
        user: &User,
        user_agent: Option<&str>,
        ip: IpAddr,
    ) -> Result<(String, Tokens), ApiError> {
        let s = &self.0;
        for _attempt in 0..3 {
            let now = s.clock.now();
            let sid = jwtx::uuid4();
            let refresh = self.refresh_token(&user.name, &sid)?;
            let access = self.access_token(user, Some(&sid), true)?;
            let session = Session {
                id: sid.clone(),
                user: user.name.clone(),
                created_at: now,
                last_used_at: now,
                expires_at: now.saturating_add(s.settings.session_lifetime),
                user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
                ip: Some(ip.to_string()),
                current_jti: refresh.claims.jti.clone().unwrap_or_default(),
                previous: None,
                revoked_at: None,
            };
            match s.store.create_session(session, user.generation).await {
                Ok(SessionCreated::Created { ended }) => {
                    // The user was past jwtx::store::MAX_LIVE_SESSIONS: the oldest ended.
                    if let Some(logged) = ended {
                        self.applied(&logged);
                        if let Revocation::Session { id, .. } = &logged.revocation {
                            let id: &str = id;
                            self.event(AuthEvent::SessionEnded {
                                user: &user.name,
                                session: id,
                                reason: SessionEnd::SessionCap,
                            });
                        }
                    }
                    let tokens = Tokens {
                        access,
                        refresh: Some(refresh),
                        session: Some(sid.clone()),
                    };
                    return Ok((sid, tokens));
                }
                Ok(SessionCreated::TooEarly { cutoff }) => {
                    let seconds = cutoff.saturating_add(1).saturating_sub(now).min(2);
                    tokio::time::sleep(until_second_passes(seconds)).await;
                }
                Err(StoreError::Conflict { .. }) => {
                    self.event(AuthEvent::LoginFailed {
                        account: Some(&user.name),
                        typed: &user.name,
                        credentials_changed: true,
                        ip,
                    });
                    return Err(ApiError::BadCredentials);
                }
                Err(e) => return Err(e.into()),
            }
        }
        // This clock stays behind the store's (a skew of seconds): refuse rather than issue
        // tokens the cut-off revokes.
        tracing::error!(user = %user.name, "login: this process's clock is behind the store's cut-off; check the clocks");
        Err(ApiError::Unavailable)
    }

    /// Applies an entry the store appended with the write that made it, and reports it.
    fn applied(&self, logged: &Logged) {
        self.0.revocations.applied(logged);
        self.event(AuthEvent::Revoked {
            revocation: &logged.revocation,
        });
    }

    /// A compare-and-set on the generation the password was verified at: if the password
    /// changed meanwhile, this hash of the old one is not written.
    async fn rehash(&self, user: &User, password: Zeroizing<String>) -> Result<(), ApiError> {
        let s = &self.0;
        match s.hasher.hash(password).await {
            Ok(h) => {
                if !s
                    .store
                    .rehash_password(&user.name, &h, user.generation)
                    .await?
                {
                    tracing::info!(user = %user.name, "password changed during login; rehash skipped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "password rehash failed; keeping the old hash"),
        }
        Ok(())
    }

    /// An access token for `user`, in session `sid` if it belongs to one, with its roles.
    pub fn access_token(
        &self,
        user: &User,
        sid: Option<&str>,
        fresh: bool,
    ) -> Result<Issued, ApiError> {
        let mut t = self
            .0
            .jwt
            .access_token(user.name.clone())
            .fresh(fresh)
            .claim("roles", user.roles.clone());
        if let Some(sid) = sid {
            t = t.claim("sid", sid);
        }
        t.sign().map_err(signing_failed)
    }

    fn refresh_token(&self, user: &str, sid: &str) -> Result<Issued, ApiError> {
        self.0
            .jwt
            .refresh_token(user)
            .claim("sid", sid)
            .sign()
            .map_err(signing_failed)
    }

    /// `POST /refresh`: rotates the presented refresh token of `user`. The current token gets
    /// a new access token and the next refresh token; the one just replaced, within the grace
    /// window, an access token only; any older one is reuse, which ends the whole session
    /// ([`ApiError::Revoked`]).
    pub async fn refresh(&self, user: &User, token: Presented<'_>) -> Result<Tokens, ApiError> {
        let s = &self.0;
        let Some(sid) = token.session else {
            // A refresh token from outside a login session (e.g. `jwtx token mint`): no family
            // to rotate; an access token only.
            let access = self.access_token(user, None, false)?;
            self.event(AuthEvent::Refreshed {
                user: &user.name,
                session: None,
                rotated: false,
            });
            return Ok(Tokens {
                access,
                refresh: None,
                session: None,
            });
        };
        let next = self.refresh_token(&user.name, sid)?;
        let next_jti = next.claims.jti.clone().unwrap_or_default();
        let now = s.clock.now();
        let policy = RotationPolicy {
            now,
            grace: s.settings.refresh_reuse_grace,
            idle_timeout: s.settings.session_idle_timeout,
        };
        let rotated = match s.store.rotate(sid, token.jti, &next_jti, policy).await? {
            Rotation::Rotated => true,
            // The token just replaced (concurrent refreshes): a new access token and no
            // refresh token, so the family keeps one current member.
            Rotation::Grace { .. } => false,
            Rotation::Reused { logged } => {
                self.applied(&logged);
                self.event(AuthEvent::SessionEnded {
                    user: &user.name,
                    session: sid,
                    reason: SessionEnd::RefreshReuse,
                });
                return Err(ApiError::Revoked);
            }
            Rotation::Ended => return Err(ApiError::Revoked),
        };
        let access = self.access_token(user, Some(sid), false)?;
        self.event(AuthEvent::Refreshed {
            user: &user.name,
            session: Some(sid),
            rotated,
        });
        Ok(Tokens {
            access,
            refresh: rotated.then_some(next),
            session: Some(sid.to_owned()),
        })
    }

    /// Appends `revocation` to the log, durably, and applies it here at once.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), ApiError> {
        self.0.revocations.revoke(revocation.clone()).await?;
        self.event(AuthEvent::Revoked {
            revocation: &revocation,
        });
        Ok(())
    }

    /// `POST /logout`: ends the token's session, or revokes the token itself when it belongs
    /// to none.
    pub async fn logout(&self, token: LoggingOut<'_>) -> Result<(), ApiError> {
        let now = self.0.clock.now();
        let ended = match token.session {
            Some(sid) => self.0.store.revoke_session(sid, now).await?,
            None => None,
        };
        match (ended, token.jti) {
            (Some(logged), _) => self.applied(&logged),
            // No live session of this store: the token itself is revoked.
            (None, Some(jti)) => {
                let until = token
                    .exp
                    .unwrap_or(now.saturating_add(self.0.settings.session_lifetime));
                self.revoke(Revocation::Token {
                    jti: jti.to_owned(),
                    until,
                })
                .await?;
            }
            (None, None) => {}
        }
        self.event(AuthEvent::Logout {
            user: token.user,
            session: token.session,
        });
        Ok(())
    }

    /// `POST /logout/all`: ends every live session of `user` and revokes every token of theirs
    /// issued until now, in one store transaction that appends one log entry (the command
    /// line's `jwtx revoke --user` makes the same store call); returns how many sessions were
    /// live.
    pub async fn logout_all(&self, user: &str) -> Result<u64, ApiError> {
        let ended = self
            .0
            .store
            .end_user_sessions(user, None, self.cut_lifetime())
            .await?;
        self.applied(&ended.logged);
        self.event(AuthEvent::LogoutAll {
            user,
            sessions: ended.sessions,
        });
        Ok(ended.sessions)
    }

    /// How long a user cut-off is kept: past the end of every token issued before it.
    fn cut_lifetime(&self) -> u64 {
        let access = self
            .0
            .jwt
            .codec()
            .ttl(&jwtx::TokenType::Access)
            .map_or(u64::MAX, |d| d.as_secs());
        access.max(self.0.settings.session_lifetime)
    }

    /// `POST /password`: checks the limits and the current password (from the store, not the
    /// user cache), then in one store transaction sets the new hash and ends every session but
    /// the request's. Returns how many sessions ended.
    pub async fn change_password(&self, req: PasswordChangeRequest<'_>) -> Result<u64, ApiError> {
        let s = &self.0;
        // The current hash from the store, not the user cache: a password changed a moment
        // ago elsewhere must not be accepted here.
        let Some(user) = s.store.get_user(req.user).await? else {
            return Err(ApiError::UserGone(req.user.to_owned()));
        };
        if let Err(e) = crate::passwords::check_new_password(&req.new_password.clone().into()) {
            return Err(ApiError::BadRequest(format!("new_password: {e}")));
        }
        let refused = |throttled| AuthEvent::PasswordChange {
            user: req.user,
            ok: false,
            throttled,
            sessions_ended: 0,
        };
        // Guesses of the current password count with the login limits' failures for this
        // name and address, and are refused as logins are once those are used up.
        let ip = req.ip;
        if let Err(refusal) = s.limiter.check(&user.name, ip).await {
            self.event(refused(true));
            return Err(refusal.into());
        }
        let spared = s.limiter.recently_succeeded(&user.name, ip).await;
        let verdict = s
            .hasher
            .verify_for(
                &user.name,
                spared,
                req.current_password,
                Some(&user.password_hash),
            )
            .await
            .map_err(|e| ApiError::password_check(&e))?;
        if !verdict.ok {
            s.limiter.record_failure(&user.name, ip).await;
            self.event(refused(false));
            return Err(ApiError::WrongCurrentPassword);
        }
        s.limiter.record_success(&user.name, ip).await;
        let hash = s.hasher.hash(req.new_password).await.map_err(|e| match e {
            PasswordError::Empty | PasswordError::TooLong { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "password hashing failed");
                ApiError::Unavailable
            }
        })?;
        // One transaction: the hash, a new credential generation, the end of every other
        // session and one cut-off sparing this one. A login that verified the old password can
        // no longer create a session.
        let change = s
            .store
            .change_password(
                &user.name,
                &hash,
                user.generation,
                req.session,
                self.cut_lifetime(),
            )
            .await;
        s.users.forget(&user.name);
        let ended = match change? {
            PasswordChange::Changed { ended, logged, .. } => {
                self.applied(&logged);
                ended
            }
            // Changed by another request since it was read: this one verified a password
            // that may no longer be current.
            PasswordChange::Stale => {
                return Err(ApiError::Conflict(
                    "The password was changed by another request; try again".into(),
                ));
            }
            PasswordChange::NoSuchUser => return Err(ApiError::BadCredentials),
        };
        self.event(AuthEvent::PasswordChange {
            user: &user.name,
            ok: true,
            throttled: false,
            sessions_ended: ended,
        });
        Ok(ended)
    }

    /// `GET /sessions`: up to `limit` (1 to [`MAX_PAGE`]) live sessions of `user`, newest
    /// first, after `after`.
    pub async fn sessions(
        &self,
        user: &str,
        after: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<SessionPage, ApiError> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
        let now = self.0.clock.now();
        let mut sessions = self.0.store.list_sessions(user, now, after, limit).await?;
        // A full page may have more after it; the cursor moves past idle sessions too.
        let next = (sessions.len() == limit as usize)
            .then(|| sessions.last().map(SessionCursor::after))
            .flatten();
        // A session idle for longer than the timeout has ended (its refresh token is refused).
        let idle_limit = self.0.settings.session_idle_timeout;
        sessions.retain(|s| now.saturating_sub(s.last_used_at) <= idle_limit);
        Ok(SessionPage { sessions, next })
    }

    /// `DELETE /sessions/{id}`: ends one live session of `user`. Another user's session is
    /// answered as a missing one.
    pub async fn revoke_session(&self, user: &str, id: &str) -> Result<(), ApiError> {
        let not_found = || ApiError::NotFound("Session not found");
        let session = self.0.store.get_session(id).await?.ok_or_else(not_found)?;
        let now = self.0.clock.now();
        if session.user != user || !jwtx::store::is_live(&session, now) {
            return Err(not_found());
        }
        // Ended meanwhile (another request, a logout everywhere): nothing left to revoke.
        let logged = self
            .0
            .store
            .revoke_session(id, now)
            .await?
            .ok_or_else(not_found)?;
        self.applied(&logged);
        self.event(AuthEvent::SessionRevoked { user, session: id });
        Ok(())
    }
}

/// How long to sleep for the system clock to pass `seconds` whole-second boundaries: to the
/// next boundary, plus whole seconds, plus a little.
fn until_second_passes(seconds: u64) -> Duration {
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let to_boundary = Duration::from_nanos(u64::from(1_000_000_000 - into_second.min(999_999_999)));
    to_boundary + Duration::from_secs(seconds.saturating_sub(1)) + Duration::from_millis(5)
}

fn signing_failed(e: jwtx::EncodeError) -> ApiError {
    tracing::error!(error = %e, "token signing failed");
    ApiError::SigningFailed
}
