/*
 * db_connection_string: URLs of databases, caches and message brokers that
 * carry a password, replaced whole.
 *
 * scheme://user:password@host[:port][/path][?query], the scheme one of
 * postgres(ql), mysql, mariadb, mongodb(+srv), redis(s), amqp(s),
 * mssql, sqlserver, oracle, clickhouse, cockroachdb, cassandra, neo4j, ...
 * optionally with a driver ("postgresql+psycopg2://", SQLAlchemy) or a
 * "jdbc:" in front. The user may be empty ("redis://:pw@host"); the
 * password may not, and "user:pass@" is required: a URL without
 * credentials is left alone. The match runs through host, port, path and
 * query up to whitespace, a quote, a backslash or angle brackets, without
 * trailing punctuation ("(see postgres://u:p@h/db).").
 *
 * Template passwords are configuration, not secrets, and are left alone:
 * ${DB_PASS}, {password}, {{db_password}}, ****, <password>, $PASSWORD,
 * $(DB_PASS), %DB_PASS%, %(password)s, "...".
 *
 * Plain http(s)/ftp URLs with credentials are not this detector's:
 * "DB_CONNECTION_STRING" would mislabel them.
 */
#include <anthropic-proxy/plugin.h>

#define SCHEME                                                                       \
    "(?:postgres(?:ql)?|pgsql|mysqlx?|mariadb|mongodb|rediss?|valkeys?|amqps?"        \
    "|mssql|sqlserver|oracle|cockroachdb|clickhouse|couchdbs?|couchbases?|cassandra"  \
    "|scylladb|neo4j|bolt|memcached|db2|snowflake|redshift|timescaledb|influxdb"      \
    "|presto|trino|nats|mqtts?|kafka)(?:\\+[a-z0-9]{1,20})?"
/* A password that is a placeholder, up to the '@'. */
#define TEMPLATE                                                                     \
    "(?:\\$\\{[^}\\s]{0,128}\\}|\\{\\{?[^}\\s]{0,128}\\}\\}?|\\*{1,64}"                \
    "|<[^>\\s]{0,128}>|\\$[A-Z_][A-Z0-9_]{0,127}|\\$\\([A-Za-z_][A-Za-z0-9_]{0,127}\\)" \
    "|%[A-Za-z_][A-Za-z0-9_]{0,127}%|%\\([A-Za-z_][A-Za-z0-9_]{0,127}\\)s|\\.{3})@"
/* What ends the URL: blanks, quotes, backslash escapes, angle brackets. */
#define URLCHAR "[^\\s'\"`<>\\\\]"

static const char *const must_match[] = {
    "postgres://user:pass@host/db",
    "POSTGRES://user:pass@host/db",
    "postgres://user:p#ss/w0rd@db.example.com/app",
    "DATABASE_URL=postgresql://app_user:Xk9vQ2mPz7Lr@db.internal.example:5432/appdb?sslmode=require",
    "client = MongoClient(\"mongodb+srv://admin:S3cr3tPa55@cluster0.ab1cd.mongodb.net/prod?retryWrites=true&w=majority\")",
    "REDIS_URL=redis://:Yv7qLp2Xw9Zr@cache.example.internal:6379/0",
    "broker_url = 'amqps://guest:Qw8rT5yU@rabbit.example.com/vhost'",
    "engine = create_engine(\"mysql+pymysql://root:hunter2hunter2@127.0.0.1:3306/shop\")",
    "url: jdbc:mariadb://svc:Zx81!kq@mariadb-0.db:3306/orders",
    "mssql://sa:Str0ng!Passw0rd@sqlserver.local:1433/master",
    NULL,
};

static const char *const must_not_match[] = {
    "postgres://localhost:5432/mydb",
    "postgres://${DB_USER}:${DB_PASS}@db:5432/app",
    "mysql://user:{password}@host/db",
    "mongodb+srv://admin:****@cluster0.abcde.mongodb.net/",
    "redis://user:<password>@host:6379",
    "DATABASE_URL=postgres://app:$PASSWORD@db/app",
    "sqlalchemy.url = postgresql://scott:%(password)s@localhost/test",
    "postgres://db.example.com:5432/app?options=a@b",
    "use a URL like mysql://user:pass and add @host",
    "commit 5b001a3ff416d4a3baf69dad8199bfca8b6f3a6a",
    "id 3f2b8c1e-9d4a-4e7b-b5c6-0a1d2e3f4a5b",
    NULL,
};

static const char *const anchors[] = { "://", NULL };

static const struct apx_detector_spec detector_spec = {
    .struct_size = sizeof(struct apx_detector_spec),
    .label = "DB_CONNECTION_STRING",
    .tier = APX_TIER_SECRET,
    .priority = 90,
    /* the scheme in any case (POSTGRES://); a password may hold '/'
     * and '#' unencoded, as people write them */
    .pattern = "(?<![A-Za-z0-9+.-])(?i:(?:jdbc:)?" SCHEME ")://"
               "[^\\s:@/?#'\"`<>\\\\]{0,256}+:"        /* user (may be empty) */
               "(?!" TEMPLATE ")"
               "[^\\s@?'\"`<>\\\\]{1,256}+@"           /* password */
               "(?:" URLCHAR "{0,2047}[^\\s'\"`<>\\\\.,;:!?)\\]}])?",
    .anchors = anchors,
    .must_match = must_match,
    .must_not_match = must_not_match,
};

APX_EXPORT const struct apx_plugin apx_plugin_descriptor = {
    APX_PLUGIN_HEADER,
    .kind = APX_KIND_DETECTOR,
    .name = "db_connection_string",
    .version = "1.0.0",
    .description = "Database and broker URLs with a password (postgres://user:pass@host/db...)",
    .detector = &detector_spec,
};
