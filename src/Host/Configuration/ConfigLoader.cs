using System.Net;
using System.Text;
using Litecast.Storage;
using YamlDotNet.Core;

namespace Litecast.Host.Configuration;

/// <summary>Knobs for <see cref="ConfigLoader"/>; the defaults read the real environment.</summary>
public sealed record ConfigLoadOptions
{
    /// <summary>Environment lookup for <c>$VAR</c> expansion (null = unset). Default: <see cref="Environment.GetEnvironmentVariable(string)"/>.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>False to skip <c>$VAR</c> expansion (Litestream's <c>-no-expand-env</c>).</summary>
    public bool ExpandEnvironment { get; init; } = true;

    /// <summary>The machine's host name, the default <c>cluster.public-host</c> when <c>cluster.host</c> is a wildcard.</summary>
    public Func<string> GetHostName { get; init; } = Dns.GetHostName;

    /// <summary>Directory relative <c>dbs[].path</c> values are resolved against. Default: the working directory (as Litestream does).</summary>
    public string? BaseDirectory { get; init; }

    /// <summary>Home directory for <c>~</c> in paths. Default: the user profile directory.</summary>
    public string? HomeDirectory { get; init; }

    /// <summary>Does a file exist? Used by the config search. Default: <see cref="System.IO.File.Exists(string)"/>.</summary>
    public Func<string, bool> FileExists { get; init; } = System.IO.File.Exists;
}

/// <summary>
/// Finds, reads, expands and validates <c>litecast.yml</c>. Every failure is a <see cref="ConfigException"/> whose
/// message names the file, the line and column, and the key.
/// </summary>
public static class ConfigLoader
{
    /// <summary>The config file searched for in the working directory.</summary>
    public const string LocalConfigPath = "litecast.yml";

    /// <summary>The system-wide config file, searched after <see cref="LocalConfigPath"/>.</summary>
    public const string SystemConfigPath = "/etc/litecast.yml";

    /// <summary>Environment variable naming the config file when no <c>-config</c> flag is given (like Litestream's <c>LITESTREAM_CONFIG</c>).</summary>
    public const string ConfigEnvironmentVariable = "LITECAST_CONFIG";

    /// <summary>
    /// Picks the config file: <paramref name="explicitPath"/> (from <c>-config</c>) if given, which must exist; else
    /// <c>$LITECAST_CONFIG</c> if set, which must exist; else the first of <c>./litecast.yml</c>, <c>/etc/litecast.yml</c>
    /// that exists. Throws a <see cref="ConfigException"/> listing the paths tried.
    /// </summary>
    public static string ResolvePath(string? explicitPath, ConfigLoadOptions? options = null)
    {
        options ??= new ConfigLoadOptions();
        if (!string.IsNullOrEmpty(explicitPath))
        {
            if (!options.FileExists(explicitPath)) throw NotFound(explicitPath, "-config");
            return explicitPath;
        }
        string? fromEnv = options.GetEnvironmentVariable(ConfigEnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (!options.FileExists(fromEnv)) throw NotFound(fromEnv, "$" + ConfigEnvironmentVariable);
            return fromEnv;
        }
        string[] tried = [LocalConfigPath, SystemConfigPath];
        foreach (var path in tried)
        {
            if (options.FileExists(path))
                return path;
        }
        throw new ConfigException(LocalConfigPath, null, null, null,
            $"no config file found; tried {Describe(LocalConfigPath)} and {SystemConfigPath} (pass -config PATH)");
    }

    /// <summary>A config path given by <paramref name="source"/> that is not a file: missing, or a directory (which was
    /// reported as "not found", found by a black-box review).</summary>
    private static ConfigException NotFound(string path, string source) => new(path, null, null, null, Directory.Exists(path)
        ? $"config file {Describe(path)} (from {source}) is a directory; give the path of the file, such as {System.IO.Path.Join(path, "litecast.yml")}"
        : $"config file not found (from {source}): {Describe(path)}");

    /// <summary>Resolves the path (<see cref="ResolvePath"/>) and loads it (<see cref="LoadFile"/>).</summary>
    public static LitecastConfig Load(string? explicitPath, ConfigLoadOptions? options = null)
    {
        options ??= new ConfigLoadOptions();
        return LoadFile(ResolvePath(explicitPath, options), options);
    }

    /// <summary>Reads and parses one file.</summary>
    public static LitecastConfig LoadFile(string path, ConfigLoadOptions? options = null)
    {
        string text;
        try
        {
            text = DecodeUtf8(path, System.IO.File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConfigException(path, null, null, null, $"config file not found: {Describe(path)}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, null, null, null, $"cannot read config file: {e.Message}", e);
        }
        return Parse(text, path, options);
    }

    /// <summary>
    /// Parses config text. <paramref name="file"/> is used in error messages and recorded in
    /// <see cref="LitecastConfig.File"/>. Environment variables are expanded first (unless disabled), so lines keep
    /// their numbers but columns after an expansion refer to the expanded text.
    /// </summary>
    public static LitecastConfig Parse(string text, string file, ConfigLoadOptions? options = null)
    {
        options ??= new ConfigLoadOptions();
        var variables = new List<(string Name, string? Value)>();
        if (options.ExpandEnvironment)
            text = EnvExpander.Expand(text, name =>
            {
                var value = options.GetEnvironmentVariable(name);
                variables.Add((name, value));
                return value;
            });
        try
        {
            return new Validator(file, options).Validate(ConfigYaml.Read(text, file)) with
            {
                UnsetVariables = Unset(variables),
            };
        }
        catch (ConfigException e) when (variables.Count > 0)
        {
            throw WithVariables(e, variables);
        }
    }

    /// <summary>The variables the file names that were not set, each once.</summary>
    private static List<string> Unset(List<(string Name, string? Value)> variables) =>
        variables.Where(v => v.Value is null).Select(v => "$" + v.Name).Distinct().ToList();

    /// <summary>
    /// An error in expanded text, told in the file's own terms: a variable's value never appears in it (a token that
    /// made the YAML malformed was quoted back by the parser), and the variables that were unset are named, since each
    /// became an empty string.
    /// </summary>
    private static ConfigException WithVariables(ConfigException e, List<(string Name, string? Value)> variables)
    {
        var detail = e.Detail;
        foreach (var (name, value) in variables.Where(v => v.Value is { Length: >= 3 }).OrderByDescending(v => v.Value!.Length))
            detail = detail.Replace(value!, $"${{{name}}}", StringComparison.Ordinal);
        var unset = Unset(variables);
        if (unset.Count > 0)
            detail += $" (unset environment variables, expanded to nothing: {string.Join(", ", unset)})";
        return detail == e.Detail ? e : new ConfigException(e.File, e.Line, e.Column, e.Key, detail, e.InnerException);
    }

    /// <summary>
    /// The file's text, which must be UTF-8 (a byte-order mark allowed). Decoded leniently, an invalid byte became U+FFFD
    /// and a database name made of such bytes was accepted and shown as question marks (a black-box review).
    /// </summary>
    private static string DecodeUtf8(string path, byte[] bytes)
    {
        var start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        try
        {
            return StrictUtf8.GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException e)
        {
            var offset = start + Math.Max(0, e.Index);
            var line = bytes.AsSpan(0, Math.Min(offset, bytes.Length)).Count((byte)'\n') + 1;
            throw new ConfigException(path, line, null, null, $"the file is not valid UTF-8 (byte {offset}); save it as UTF-8", e);
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string Describe(string path)
    {
        try
        {
            string full = System.IO.Path.GetFullPath(path);
            return full == path ? path : $"{path} ({full})";
        }
        catch (Exception)
        {
            return path;
        }
    }

    /// <summary>The validation pass: turns the deserialized sections into <see cref="LitecastConfig"/>, checking every value.</summary>
    private sealed class Validator(string file, ConfigLoadOptions options)
    {
        private ConfigException Error(Mark at, string? key, string detail) =>
            new(file, (int)at.Line, (int)at.Column, key, detail);

        public LitecastConfig Validate(Located<TopSection>? document)
        {
            if (document is null || document.Kind == NodeKind.Null)
                throw new ConfigException(file, null, null, "dbs", "config is empty; expected at least 'dbs:' with one '- path:' entry");
            if (document.Value is not { } top)
                throw Error(document.Start, null, "expected a mapping at the top level (addr:, dbs:, cluster:, tls:, auth:, proxy:)");

            HttpAddress? addr = null;
            string? addrText = Optional(top.Addr, "addr");
            if (!string.IsNullOrWhiteSpace(addrText))
            {
                addr = HttpAddress.TryParse(addrText, out string? err)
                    ?? throw Error(top.Addr!.Start, "addr", $"addr: {err}");
            }

            if (top.Dbs is null)
                throw Error(document.Start, "dbs", "missing required key 'dbs' (a list of databases, each with '- path:')");
            if (top.Dbs.Value is not { } entries)
                throw Error(top.Dbs.Start, "dbs", "dbs: expected a list of databases ('- path: /data/db')");
            if (entries.Count == 0)
                throw Error(top.Dbs.Start, "dbs", "dbs: no databases configured; add at least one '- path:' entry");

            var dbs = entries.Select((entry, i) => ReadDb(entry, $"dbs[{i}]")).ToList();
            CheckUnique(dbs, entries);
            CheckOneCluster(dbs, entries);

            var config = new LitecastConfig
            {
                File = file, Addr = addr, Dbs = dbs, Cluster = ReadCluster(top.Cluster), Tls = ReadTls(top.Tls), Auth = ReadAuth(top.Auth),
                Proxy = ReadProxy(top.Proxy, dbs),
            };
            CheckListenersDistinct(config, top, document.Start);
            CheckUpstreamIsNotThisNode(config, entries);
            return config;
        }

        /// <summary>
        /// The admin endpoint, the cluster endpoint and the proxy each bind their own port: two on one port would start,
        /// log a bind error and never become healthy. Ports 0 (the OS picks) never clash; two different IP addresses
        /// may share a port.
        /// </summary>
        private void CheckListenersDistinct(LitecastConfig config, TopSection top, Mark documentStart)
        {
            var clusterPort = config.Cluster.EffectivePort(config.PrimaryDbs.Any());
            var clusterName = config.Cluster.PortIsExplicit ? "cluster.port" : $"cluster.port (default {ClusterConfig.DefaultPort})";
            var listeners = new List<(string Key, string Name, string? Host, int Port, Mark At)>();
            if (config.Addr is { } addr) listeners.Add(("addr", "addr", addr.Host, addr.Port, top.Addr!.Start));
            listeners.Add(("cluster.port", clusterName, config.Cluster.Host, clusterPort,
                top.Cluster?.Value?.Port?.Start ?? top.Addr?.Start ?? documentStart));
            if (config.Proxy is { } proxy) listeners.Add(("proxy.addr", "proxy.addr", proxy.Addr.Host, proxy.Addr.Port, top.Proxy!.Value!.Addr!.Start));
            for (var i = 0; i < listeners.Count; i++)
            for (var j = i + 1; j < listeners.Count; j++)
            {
                var (a, b) = (listeners[i], listeners[j]);
                if (a.Port == 0 || a.Port != b.Port || !MayShareInterface(a.Host, b.Host)) continue;
                throw Error(b.At, b.Key, $"{b.Name}: port {b.Port} is also {a.Name}'s; the admin endpoint, the cluster and the proxy each need a port of their own");
            }
        }

        /// <summary>False only for two different IP addresses; a wildcard, a name or the same address may overlap.</summary>
        private static bool MayShareInterface(string? a, string? b)
        {
            if (!System.Net.IPAddress.TryParse(a?.Trim('[', ']'), out var ipA) || !System.Net.IPAddress.TryParse(b?.Trim('[', ']'), out var ipB))
                return true; // all interfaces (no host), or a name
            return ipA.Equals(ipB) || IsAllInterfaces(ipA) || IsAllInterfaces(ipB);
        }

        private static bool IsAllInterfaces(System.Net.IPAddress ip) =>
            ip.Equals(System.Net.IPAddress.Any) || ip.Equals(System.Net.IPAddress.IPv6Any);

        private ProxyConfig? ReadProxy(Located<ProxySection>? proxy, List<DbConfig> dbs)
        {
            if (proxy is null || proxy.Kind == NodeKind.Null) return null;
            if (proxy.Value is not { } section)
                throw Error(proxy.Start, "proxy", "proxy: expected a mapping (addr:, target:, db:, passthrough:, max-lag:, wait-timeout:, write-ack:, public-url:)");
            Located<string> Present(Located<string>? value, string key, string what) =>
                value ?? throw Error(proxy.Start, $"proxy.{key}", $"proxy: missing required key '{key}' ({what})");

            var addrValue = Present(section.Addr, "addr", "where the proxy listens, e.g. \":8080\"");
            var addr = HttpAddress.TryParse(Required(addrValue, "proxy.addr"), out string? addrError)
                ?? throw Error(addrValue.Start, "proxy.addr", $"proxy.addr: {addrError}");

            var targetValue = Present(section.Target, "target", "this node's application, e.g. \"localhost:8081\"");
            var target = ReadProxyTarget(targetValue);
            // Each request would be forwarded to the proxy itself, again and again until the connections run out.
            if (Reaches(target, addr))
                throw Error(targetValue.Start, "proxy.target",
                    $"proxy.target: '{target.OriginalString}' is the proxy's own address (proxy.addr '{addr.Host ?? ""}:{addr.Port}'); point it at the application");

            var dbValue = Present(section.Db, "db", "the name of the database whose position the proxy tracks");
            string dbName = Required(dbValue, "proxy.db");
            var db = dbs.FirstOrDefault(d => string.Equals(d.Name, dbName, StringComparison.OrdinalIgnoreCase))
                ?? throw Error(dbValue.Start, "proxy.db", $"proxy.db: no database named '{dbName}' in dbs (names: {string.Join(", ", dbs.Select(d => d.Name))})");

            var passthrough = new List<string>();
            if (section.Passthrough is { Kind: not NodeKind.Null } list)
            {
                if (list.Value is not { } entries)
                    throw Error(list.Start, "proxy.passthrough", "proxy.passthrough: expected a list of path patterns, e.g. [\"/static/*\", \"*.css\"]");
                passthrough.AddRange(entries.Select((entry, i) => Required(entry, $"proxy.passthrough[{i}]")));
            }

            TimeSpan? maxLag = section.MaxLag is null ? null : PositiveDuration(section.MaxLag, "proxy.max-lag");
            var waitTimeout = section.WaitTimeout is null ? ProxyConfig.DefaultWaitTimeout : PositiveDuration(section.WaitTimeout, "proxy.wait-timeout");

            int writeAck = 0;
            if (section.WriteAck is { } ack)
            {
                string text = Required(ack, "proxy.write-ack");
                if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out writeAck))
                    throw Error(ack.Start, "proxy.write-ack", $"proxy.write-ack: '{text}' is not a number of replicas (0 or more)");
            }

            Uri? publicUrl = null;
            if (section.PublicUrl is { } pu)
            {
                string text = Required(pu, "proxy.public-url");
                if (!Uri.TryCreate(text, UriKind.Absolute, out publicUrl) || publicUrl.Scheme is not ("http" or "https") || string.IsNullOrEmpty(publicUrl.Host))
                    throw Error(pu.Start, "proxy.public-url", $"proxy.public-url: '{text}' is not an http(s) URL with a host (e.g. http://app1:8080)");
            }

            return new ProxyConfig
            {
                Addr = addr, Target = target, Db = db, Passthrough = passthrough, MaxLag = maxLag, WaitTimeout = waitTimeout,
                WriteAck = writeAck, PublicUrl = publicUrl,
            };
        }

        /// <summary><c>proxy.target</c>: <c>host:port</c> (as the issue's example writes it) or an http(s) URL.</summary>
        private Uri ReadProxyTarget(Located<string> value)
        {
            string text = Required(value, "proxy.target");
            string url = text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text;
            if (!Uri.TryCreate(url, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https")
                || string.IsNullOrEmpty(target.Host) || target.AbsolutePath != "/" || target.Query.Length > 0)
                throw Error(value.Start, "proxy.target", $"proxy.target: '{text}' is not the application's host:port or http(s)://host:port");
            return target;
        }

        private TimeSpan PositiveDuration(Located<string> value, string key)
        {
            string text = Required(value, key);
            if (!ValueParsers.TryParseDuration(text, out var duration, out string? err))
                throw Error(value.Start, key, $"{key}: {err}");
            if (duration <= TimeSpan.Zero)
                throw Error(value.Start, key, $"{key}: must be greater than zero (got '{text}')");
            return duration;
        }

        private TimeSpan? ScrubInterval(Located<string> value, string key)
        {
            string text = Required(value, key);
            if (text.Trim().Equals("off", StringComparison.OrdinalIgnoreCase)) return null;
            if (!ValueParsers.TryParseDuration(text, out var interval, out string? err))
                throw Error(value.Start, key, $"{key}: {err}; use a duration such as 24h, or off");
            if (interval == TimeSpan.Zero) return null;
            if (interval < DbConfig.MinScrubInterval)
                throw Error(value.Start, key, $"{key}: must be at least {DbConfig.MinScrubInterval.TotalMinutes:0}m, or off (got '{text}'): a scrub reads the whole file");
            return interval;
        }

        private TlsConfig? ReadTls(Located<TlsSection>? tls)
        {
            if (tls is null) return null;
            // An empty section must not quietly mean no TLS: the node would serve plain HTTP to peers that expect HTTPS.
            if (tls.Kind == NodeKind.Null)
                throw Error(tls.Start, "tls", "tls: is empty; set cert:, key: and ca:, or remove 'tls:' to run without TLS");
            if (tls.Value is not { } section)
                throw Error(tls.Start, "tls", "tls: expected a mapping (cert:, key:, ca:)");
            string RequiredFile(Located<string>? value, string key, string what) => value is null
                ? throw Error(tls.Start, key, $"tls: missing required key '{key[4..]}' ({what})")
                : ResolveFilePath(Required(value, key));
            var cert = RequiredFile(section.Cert, "tls.cert", "this node's certificate, PEM");
            var key = RequiredFile(section.Key, "tls.key", "its private key, PEM");
            var ca = RequiredFile(section.Ca, "tls.ca", "the CA every node's certificate chains to, PEM");
            try
            {
                return new TlsConfig(cert, key, ca, Security.TlsFiles.Load(cert, key, ca));
            }
            catch (Security.TlsFileException e)
            {
                var (at, k) = e.Path == ca ? (section.Ca!, "tls.ca") : e.Path == key ? (section.Key!, "tls.key") : (section.Cert!, "tls.cert");
                throw Error(at.Start, k, $"{k}: {e.Message}");
            }
        }

        private AuthConfig? ReadAuth(Located<AuthSection>? auth)
        {
            if (auth is null) return null;
            if (auth.Kind == NodeKind.Null)
                throw Error(auth.Start, "auth", "auth: is empty; set token:, or remove 'auth:' to run without a token");
            if (auth.Value is not { } section)
                throw Error(auth.Start, "auth", "auth: expected a mapping (token:, protect-reads:)");
            if (section.Token is null)
                throw Error(auth.Start, "auth.token", "auth: missing required key 'token' (the admin endpoint's bearer token)");
            // The value is never repeated in a message: it is a secret, and an unset variable leaves it empty.
            var token = Optional(section.Token, "auth.token")?.Trim();
            if (string.IsNullOrEmpty(token))
                throw Error(section.Token.Start, "auth.token", "auth.token: must not be empty (is an environment variable unset?)");
            if (token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
                throw Error(section.Token.Start, "auth.token", "auth.token: may not contain spaces or control characters (it travels in an HTTP header)");
            var protectReads = false;
            if (section.ProtectReads is not null)
            {
                var text = Required(section.ProtectReads, "auth.protect-reads");
                if (!bool.TryParse(text, out protectReads))
                    throw Error(section.ProtectReads.Start, "auth.protect-reads", $"auth.protect-reads: expected true or false, not '{text}'");
            }
            return new AuthConfig(token, protectReads);
        }

        private DbConfig ReadDb(Located<DbSection> entry, string where)
        {
            if (entry.Value is not { } section)
                throw Error(entry.Start, where, $"{where}: expected a mapping with at least 'path:'");

            if (section.Path is null)
                throw Error(entry.Start, $"{where}.path", $"{where}: missing required key 'path'");
            string path = ResolveFilePath(Required(section.Path, $"{where}.path"));
            if (PathKindProblem(path) is { } pathProblem)
                throw Error(section.Path.Start, $"{where}.path", $"{where}.path: {pathProblem}");

            string name = section.Name is null ? DbConfig.DefaultName(path) : Required(section.Name, $"{where}.name");
            string? nameProblem = NameProblem(name);
            if (nameProblem is not null)
            {
                string key = section.Name is null ? $"{where}.path" : $"{where}.name";
                string hint = section.Name is null ? " (derived from path; set 'name:')" : "";
                throw Error((section.Name ?? section.Path).Start, key, $"{key}: database name '{name}' {nameProblem}{hint}");
            }

            var db = new DbConfig
            {
                Path = path,
                Name = name,
                Upstream = section.Upstream is null ? null : ReadUpstream(section.Upstream, $"{where}.upstream"),
            };

            if (section.CheckpointThresholdPages is { } cp)
            {
                string k = $"{where}.checkpoint-threshold-pages";
                string text = Required(cp, k);
                if (!long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long pages))
                    throw Error(cp.Start, k, $"{k}: '{text}' is not a whole number of pages");
                if (pages > int.MaxValue)
                    throw Error(cp.Start, k, $"{k}: must be at most {int.MaxValue} (got {pages})");
                if (pages < 1)
                    throw Error(cp.Start, k, $"{k}: must be at least 1 (got {pages})");
                db = db with { CheckpointThresholdPages = (int)pages };
            }
            if (section.RetainedLogBytes is { } rl)
            {
                string k = $"{where}.retained-log-bytes";
                if (!ValueParsers.TryParseSize(Required(rl, k), out long bytes, out string? err))
                    throw Error(rl.Start, k, $"{k}: {err}");
                db = db with { RetainedLogBytes = bytes };
            }
            if (section.MaxLag is { } lag)
                db = db with { MaxLag = PositiveDuration(lag, $"{where}.max-lag") };
            if (section.ScrubInterval is { } scrub)
                db = db with { ScrubInterval = ScrubInterval(scrub, $"{where}.scrub-interval") };
            return db;
        }

        private UpstreamConfig ReadUpstream(Located<UpstreamSection> upstream, string where)
        {
            if (upstream.Kind == NodeKind.Null)
                throw Error(upstream.Start, where, $"{where}: is empty; set 'url:' (the primary's HTTP address) or remove 'upstream:'");
            if (upstream.Value is not { } section)
                throw Error(upstream.Start, where, $"{where}: expected a mapping with 'url:' (e.g. url: http://primary:9090)");
            if (section.Url is null)
                throw Error(upstream.Start, $"{where}.url", $"{where}: missing required key 'url' (the primary's HTTP address, e.g. http://primary:9090)");
            string k = $"{where}.url";
            string text = Required(section.Url, k);
            if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || string.IsNullOrEmpty(url.Host))
                throw Error(section.Url.Start, k, $"{k}: '{text}' is not an http(s) URL with a host (e.g. http://primary:9090)"
                    + (text.Contains("://:", StringComparison.Ordinal) || text.EndsWith("://", StringComparison.Ordinal) ? "; is an environment variable unset?" : ""));
            string? upstreamPath = section.Path is null ? null : Required(section.Path, $"{where}.path");
            return new UpstreamConfig { Url = url, Path = upstreamPath };
        }

        private ClusterConfig ReadCluster(Located<ClusterSection>? cluster)
        {
            if (cluster is null || cluster.Kind == NodeKind.Null)
                return new ClusterConfig { PublicHost = DefaultPublicHost(ClusterConfig.DefaultHost) };
            if (cluster.Value is not { } section)
                throw Error(cluster.Start, "cluster", "cluster: expected a mapping (host:, port:, public-host:, public-port:, seeds:)");

            string host = ClusterConfig.DefaultHost;
            if (section.Host is not null)
            {
                host = Required(section.Host, "cluster.host");
                if (host.Any(char.IsWhiteSpace) || host.IndexOfAny(['/', '@', '?', '#']) >= 0)
                    throw Error(section.Host.Start, "cluster.host", $"cluster.host: '{host}' is not a host name or IP address");
            }

            int port = ClusterConfig.DefaultPort;
            if (section.Port is not null)
            {
                if (!ValueParsers.TryParsePort(Required(section.Port, "cluster.port"), out port, out string? err))
                    throw Error(section.Port.Start, "cluster.port", $"cluster.port: {err}");
            }

            string? publicHost = null;
            if (section.PublicHost is not null)
            {
                publicHost = Required(section.PublicHost, "cluster.public-host");
                if (ClusterConfig.IsWildcard(publicHost) || publicHost.Any(char.IsWhiteSpace) || publicHost.IndexOfAny(['/', '@', '?', '#']) >= 0)
                    throw Error(section.PublicHost.Start, "cluster.public-host", $"cluster.public-host: '{publicHost}' is not a name other nodes can reach");
            }

            int? publicPort = null;
            if (section.PublicPort is not null)
            {
                if (!ValueParsers.TryParsePort(Required(section.PublicPort, "cluster.public-port"), out int pp, out string? err))
                    throw Error(section.PublicPort.Start, "cluster.public-port", $"cluster.public-port: {err}");
                // 0 would advertise an address nobody can dial.
                if (pp == 0)
                    throw Error(section.PublicPort.Start, "cluster.public-port", "cluster.public-port: 0 is not a port other nodes can reach");
                publicPort = pp;
            }

            var seeds = new List<string>();
            if (section.Seeds is { Kind: not NodeKind.Null } seedList)
            {
                if (seedList.Value is not { } entries)
                    throw Error(seedList.Start, "cluster.seeds", $"cluster.seeds: expected a list of addresses like akka.tcp://{ClusterConfig.SystemName}@host:{ClusterConfig.DefaultPort}");
                for (int i = 0; i < entries.Count; i++)
                {
                    string k = $"cluster.seeds[{i}]";
                    string seed = Required(entries[i], k);
                    string? problem = SeedProblem(seed);
                    if (problem is not null)
                        throw Error(entries[i].Start, k, $"{k}: {problem}");
                    seeds.Add(seed);
                }
            }

            return new ClusterConfig
            {
                Host = host,
                Port = port,
                PortIsExplicit = section.Port is not null,
                PublicHost = publicHost ?? DefaultPublicHost(host),
                PublicPort = publicPort,
                Seeds = seeds,
            };
        }

        private string DefaultPublicHost(string host) => ClusterConfig.IsWildcard(host) ? options.GetHostName() : host;

        private static string? SeedProblem(string seed)
        {
            string example = $"akka.tcp://{ClusterConfig.SystemName}@host:{ClusterConfig.DefaultPort}";
            if (!Uri.TryCreate(seed, UriKind.Absolute, out var uri))
                return $"'{seed}' is not a cluster address (expected {example})";
            if (uri.Scheme is not (ClusterConfig.TcpScheme or ClusterConfig.TlsScheme))
                return $"'{seed}' has scheme '{uri.Scheme}', expected akka.tcp or akka.ssl.tcp (e.g. {example})";
            if (uri.UserInfo != ClusterConfig.SystemName)
                return $"'{seed}' must name the actor system '{ClusterConfig.SystemName}' (e.g. {example})";
            if (string.IsNullOrEmpty(uri.Host) || uri.IsDefaultPort || uri.Port <= 0)
                return $"'{seed}' needs a host and a port (e.g. {example})";
            if (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0 || uri.Fragment.Length > 0)
                return $"'{seed}' must be just {uri.Scheme}://{ClusterConfig.SystemName}@host:port";
            return null;
        }

        private void CheckUnique(List<DbConfig> dbs, List<Located<DbSection>> entries)
        {
            var names = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var paths = new Dictionary<string, int>(StringComparer.Ordinal);
            var files = new Dictionary<(FileIdentity, string), int>();
            for (int i = 0; i < dbs.Count; i++)
            {
                var at = entries[i].Start;
                if (paths.TryGetValue(dbs[i].Path, out int j))
                    throw Error(at, $"dbs[{i}].path", $"dbs[{i}].path: '{dbs[i].Path}' is already configured as dbs[{j}] (line {entries[j].Start.Line})");
                paths[dbs[i].Path] = i;
                // Two names of one file (a hard link, a path through a linked directory, another mount; a link to the
                // file itself is refused above) would each get a state directory and a lock of their own and replicate
                // it twice over. stat(2) opens nothing.
                if (FileNamed(dbs[i].Path) is { } file)
                {
                    if (files.TryGetValue(file, out j))
                        throw Error(at, $"dbs[{i}].path", $"dbs[{i}].path: '{dbs[i].Path}' is the same file as dbs[{j}] '{dbs[j].Path}' (line {entries[j].Start.Line}), through a hard link, a linked directory or another mount; configure it once");
                    files[file] = i;
                }
                if (names.TryGetValue(dbs[i].Name, out j))
                    throw Error(at, $"dbs[{i}].name", $"dbs[{i}].name: database name '{dbs[i].Name}' is already used by dbs[{j}] (line {entries[j].Start.Line}); set a distinct 'name:'");
                names[dbs[i].Name] = i;
            }
        }

        /// <summary>The file <paramref name="path"/> names: its identity, or, when it does not exist yet (a replica's
        /// first start), its directory's identity and its name; null when neither exists.</summary>
        private static (FileIdentity, string)? FileNamed(string path)
        {
            if (FileIdentity.Of(path) is { } file) return (file, "");
            return FileIdentity.Of(Path.GetDirectoryName(path) ?? "/") is { } directory ? (directory, Path.GetFileName(path)) : null;
        }

        /// <summary>
        /// An upstream naming this node's own admin endpoint (a loopback host, or the host <c>addr</c> binds, on
        /// <c>addr</c>'s port) would make the node ask itself for the primary's cluster address forever.
        /// </summary>
        private void CheckUpstreamIsNotThisNode(LitecastConfig config, List<Located<DbSection>> entries)
        {
            if (config.Addr is not { } addr) return;
            for (int i = 0; i < config.Dbs.Count; i++)
            {
                if (config.Dbs[i].Upstream?.Url is not { } url || !Reaches(url, addr)) continue;
                throw Error(entries[i].Value!.Upstream!.Value!.Url!.Start, $"dbs[{i}].upstream.url",
                    $"dbs[{i}].upstream.url: '{url.OriginalString}' is this node's own admin endpoint (addr '{(addr.Host ?? "")}:{addr.Port}'); point it at the primary's");
            }
        }

        /// <summary>True when <paramref name="url"/> names the endpoint this node listens on at <paramref name="addr"/>: its
        /// port and a loopback host, or the host <paramref name="addr"/> binds.</summary>
        private static bool Reaches(Uri url, HttpAddress addr)
        {
            if (url.Port != addr.Port) return false;
            var host = url.Host.Trim('[', ']');
            return addr.Host is null || ClusterConfig.IsWildcard(addr.Host)
                ? host == "localhost" || IsLoopback(host)
                : SameHost(addr.Host.Trim('[', ']'), host);
        }

        private static bool IsLoopback(string host) => System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip);

        /// <summary>The same host as written, or <c>localhost</c> and a loopback address.</summary>
        private static bool SameHost(string a, string b) =>
            string.Equals(a, b, StringComparison.OrdinalIgnoreCase) || a == "localhost" && IsLoopback(b) || b == "localhost" && IsLoopback(a);

        private void CheckOneCluster(List<DbConfig> dbs, List<Located<DbSection>> entries)
        {
            // A replica's upstream was read, so its url is there.
            Mark UrlStart(int i) => entries[i].Value!.Upstream!.Value!.Url!.Start;
            int first = -1;
            for (int i = 0; i < dbs.Count; i++)
            {
                if (dbs[i].Upstream is null) continue;
                if (first < 0)
                {
                    first = i;
                    continue;
                }
                var a = dbs[first].Upstream!.Origin;
                var b = dbs[i].Upstream!.Origin;
                if (Uri.Compare(a, b, UriComponents.SchemeAndServer | UriComponents.Port, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0)
                {
                    throw Error(UrlStart(i), $"dbs[{i}].upstream.url",
                        $"dbs[{i}].upstream.url: upstreams name two clusters: '{dbs[first].Upstream!.Url.OriginalString}' (dbs[{first}], line {UrlStart(first).Line}) "
                        + $"and '{dbs[i].Upstream!.Url.OriginalString}' (dbs[{i}], line {UrlStart(i).Line}); all upstreams of one node must point at the same primary");
                }
            }
        }

        private string ResolveFilePath(string raw)
        {
            string p = raw;
            if (p == "~" || p.StartsWith("~/", StringComparison.Ordinal))
            {
                string home = options.HomeDirectory ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                p = System.IO.Path.Join(home, p.Length > 1 ? p[2..] : "");
            }
            return System.IO.Path.GetFullPath(p, options.BaseDirectory ?? Directory.GetCurrentDirectory());
        }

        /// <summary>
        /// Why an existing <paramref name="path"/> cannot be a database file, or null. A symbolic link is refused: SQLite
        /// follows it and keeps the WAL beside the file it points to, where Litecast would never look (a primary at a
        /// link published nothing and still reported healthy), and a replica's resync renames its new file over the link.
        /// </summary>
        private static string? PathKindProblem(string path)
        {
            if (Directory.Exists(path)) return $"'{path}' is a directory; give the path of the database file";
            if (new FileInfo(path).LinkTarget is null) return null;
            var target = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? "?";
            return $"'{path}' is a symbolic link (to '{target}'); SQLite keeps the WAL beside the file a link points to, so give that file's path";
        }

        private static string? NameProblem(string name)
        {
            if (name.Length == 0) return "is empty";
            if (name is "." or "..") return "is not allowed";
            foreach (char c in name)
            {
                if (char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or '\\' or '?' or '#' or '%')
                    return "may not contain spaces or any of / \\ ? # % (it is used in URLs)";
            }
            return null;
        }

        /// <summary>A single value that may be empty (null then), or null when the key is absent.</summary>
        private string? Optional(Located<string>? value, string key) => value?.Kind switch
        {
            null or NodeKind.Null => null,
            NodeKind.Scalar => value.Value,
            NodeKind.Mapping => throw Error(value.Start, key, $"{key}: expected a single value, not a mapping"),
            _ => throw Error(value.Start, key, $"{key}: expected a single value, not a list"),
        };

        /// <summary>A single value that must not be empty.</summary>
        private string Required(Located<string> value, string key)
        {
            string? text = Optional(value, key);
            if (string.IsNullOrWhiteSpace(text))
                throw Error(value.Start, key, $"{key}: must not be empty");
            return text.Trim();
        }
    }
}
