using System.Net;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

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

    internal static readonly string[] TopKeys = ["addr", "dbs", "cluster"];
    internal static readonly string[] DbKeys = ["path", "upstream", "name", "checkpoint-threshold-pages", "retained-log-bytes", "max-lag"];
    internal static readonly string[] UpstreamKeys = ["url", "path"];
    internal static readonly string[] ClusterKeys = ["host", "port", "public-host", "public-port", "seeds"];

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
            if (!options.FileExists(explicitPath))
                throw new ConfigException(explicitPath, null, null, null, $"config file not found (from -config): {Describe(explicitPath)}");
            return explicitPath;
        }
        string? fromEnv = options.GetEnvironmentVariable(ConfigEnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (!options.FileExists(fromEnv))
                throw new ConfigException(fromEnv, null, null, null, $"config file not found (from ${ConfigEnvironmentVariable}): {Describe(fromEnv)}");
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
            text = System.IO.File.ReadAllText(path);
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
        if (options.ExpandEnvironment)
            text = EnvExpander.Expand(text, options.GetEnvironmentVariable);

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, null,
                $"malformed YAML: {StripMark(e)}", e);
        }
        return new Reader(file, options).Read(stream);
    }

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

    private static string StripMark(YamlException e)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (Line: 3, Col: 6, Idx: 21): ".
        string m = e.Message;
        int sep = m.IndexOf("): ", StringComparison.Ordinal);
        return m.StartsWith("(Line:", StringComparison.Ordinal) && sep >= 0 ? m[(sep + 3)..] : m;
    }

    private sealed class Reader(string file, ConfigLoadOptions options)
    {
        private ConfigException Error(YamlNode node, string? key, string detail) =>
            new(file, (int)node.Start.Line, (int)node.Start.Column, key, detail);

        public LitecastConfig Read(YamlStream stream)
        {
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode s && IsNull(s))
                throw new ConfigException(file, null, null, "dbs", "config is empty; expected at least 'dbs:' with one '- path:' entry");
            if (stream.Documents.Count > 1)
                throw Error(stream.Documents[1].RootNode, null, "expected one YAML document, found several ('---')");
            var root = stream.Documents[0].RootNode;
            if (root is not YamlMappingNode top)
                throw Error(root, null, "expected a mapping at the top level (addr:, dbs:, cluster:)");

            var keys = CheckKeys(top, "", "at top level", TopKeys);

            HttpAddress? addr = null;
            if (keys.TryGetValue("addr", out var addrNode))
            {
                string? text = OptionalScalar(addrNode.Value, "addr");
                if (!string.IsNullOrWhiteSpace(text))
                {
                    addr = HttpAddress.TryParse(text, out string? err)
                        ?? throw Error(addrNode.Value, "addr", $"addr: {err}");
                }
            }

            if (!keys.TryGetValue("dbs", out var dbsEntry))
                throw Error(top, "dbs", "missing required key 'dbs' (a list of databases, each with '- path:')");
            if (dbsEntry.Value is not YamlSequenceNode dbsNode)
                throw Error(dbsEntry.Value, "dbs", "dbs: expected a list of databases ('- path: /data/db')");
            if (dbsNode.Children.Count == 0)
                throw Error(dbsNode, "dbs", "dbs: no databases configured; add at least one '- path:' entry");

            var dbs = new List<DbConfig>();
            var positions = new List<YamlNode>();
            for (int i = 0; i < dbsNode.Children.Count; i++)
            {
                dbs.Add(ReadDb(dbsNode.Children[i], $"dbs[{i}]", out var upstreamUrlNode));
                positions.Add(upstreamUrlNode ?? dbsNode.Children[i]);
            }
            CheckUnique(dbs, dbsNode);
            CheckOneCluster(dbs, positions);

            var cluster = keys.TryGetValue("cluster", out var clusterNode)
                ? ReadCluster(clusterNode.Value)
                : DefaultCluster();

            return new LitecastConfig { File = file, Addr = addr, Dbs = dbs, Cluster = cluster };
        }

        private DbConfig ReadDb(YamlNode node, string where, out YamlNode? upstreamUrlNode)
        {
            upstreamUrlNode = null;
            if (node is not YamlMappingNode map)
                throw Error(node, where, $"{where}: expected a mapping with at least 'path:'");
            var keys = CheckKeys(map, where, $"in {where}", DbKeys);

            if (!keys.TryGetValue("path", out var pathEntry))
                throw Error(map, $"{where}.path", $"{where}: missing required key 'path'");
            string rawPath = RequiredScalar(pathEntry.Value, $"{where}.path");
            string path = ResolveDbPath(rawPath);

            string name = DbConfig.DefaultName(path);
            YamlNode nameNode = pathEntry.Value;
            bool hasName = keys.TryGetValue("name", out var nameEntry);
            if (hasName)
            {
                name = RequiredScalar(nameEntry.Value, $"{where}.name");
                nameNode = nameEntry.Value;
            }
            string? nameProblem = NameProblem(name);
            if (nameProblem is not null)
            {
                string key = hasName ? $"{where}.name" : $"{where}.path";
                string hint = hasName ? "" : " (derived from path; set 'name:')";
                throw Error(nameNode, key, $"{key}: database name '{name}' {nameProblem}{hint}");
            }

            UpstreamConfig? upstream = null;
            if (keys.TryGetValue("upstream", out var upEntry))
                upstream = ReadUpstream(upEntry.Value, $"{where}.upstream", out upstreamUrlNode);

            var db = new DbConfig { Path = path, Name = name, Upstream = upstream };

            if (keys.TryGetValue("checkpoint-threshold-pages", out var cpEntry))
            {
                string k = $"{where}.checkpoint-threshold-pages";
                string text = RequiredScalar(cpEntry.Value, k);
                if (!int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int pages))
                    throw Error(cpEntry.Value, k, $"{k}: '{text}' is not a whole number of pages");
                if (pages < 1)
                    throw Error(cpEntry.Value, k, $"{k}: must be at least 1 (got {pages})");
                db = db with { CheckpointThresholdPages = pages };
            }
            if (keys.TryGetValue("retained-log-bytes", out var rlEntry))
            {
                string k = $"{where}.retained-log-bytes";
                string text = RequiredScalar(rlEntry.Value, k);
                if (!ValueParsers.TryParseSize(text, out long bytes, out string? err))
                    throw Error(rlEntry.Value, k, $"{k}: {err}");
                db = db with { RetainedLogBytes = bytes };
            }
            if (keys.TryGetValue("max-lag", out var lagEntry))
            {
                string k = $"{where}.max-lag";
                string text = RequiredScalar(lagEntry.Value, k);
                if (!ValueParsers.TryParseDuration(text, out var lag, out string? err))
                    throw Error(lagEntry.Value, k, $"{k}: {err}");
                if (lag <= TimeSpan.Zero)
                    throw Error(lagEntry.Value, k, $"{k}: must be greater than zero (got '{text}')");
                db = db with { MaxLag = lag };
            }
            return db;
        }

        private UpstreamConfig ReadUpstream(YamlNode node, string where, out YamlNode urlNode)
        {
            if (node is YamlScalarNode s && IsNull(s))
                throw Error(node, where, $"{where}: is empty; set 'url:' (the primary's HTTP address) or remove 'upstream:'");
            if (node is not YamlMappingNode map)
                throw Error(node, where, $"{where}: expected a mapping with 'url:' (e.g. url: http://primary:9090)");
            var keys = CheckKeys(map, where, $"in {where}", UpstreamKeys);
            if (!keys.TryGetValue("url", out var urlEntry))
                throw Error(map, $"{where}.url", $"{where}: missing required key 'url' (the primary's HTTP address, e.g. http://primary:9090)");
            urlNode = urlEntry.Value;
            string k = $"{where}.url";
            string text = RequiredScalar(urlEntry.Value, k);
            if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || string.IsNullOrEmpty(url.Host))
                throw Error(urlEntry.Value, k, $"{k}: '{text}' is not an http(s) URL with a host (e.g. http://primary:9090)"
                    + (text.Contains("://:", StringComparison.Ordinal) || text.EndsWith("://", StringComparison.Ordinal) ? "; is an environment variable unset?" : ""));
            string? upstreamPath = null;
            if (keys.TryGetValue("path", out var pathEntry))
                upstreamPath = RequiredScalar(pathEntry.Value, $"{where}.path");
            return new UpstreamConfig { Url = url, Path = upstreamPath };
        }

        private ClusterConfig ReadCluster(YamlNode node)
        {
            if (node is YamlScalarNode s && IsNull(s))
                return DefaultCluster();
            if (node is not YamlMappingNode map)
                throw Error(node, "cluster", "cluster: expected a mapping (host:, port:, public-host:, public-port:, seeds:)");
            var keys = CheckKeys(map, "cluster", "in cluster", ClusterKeys);

            string host = ClusterConfig.DefaultHost;
            if (keys.TryGetValue("host", out var hostEntry))
            {
                host = RequiredScalar(hostEntry.Value, "cluster.host");
                if (host.Any(char.IsWhiteSpace) || host.IndexOfAny(['/', '@', '?', '#']) >= 0)
                    throw Error(hostEntry.Value, "cluster.host", $"cluster.host: '{host}' is not a host name or IP address");
            }

            int port = ClusterConfig.DefaultPort;
            if (keys.TryGetValue("port", out var portEntry))
            {
                string text = RequiredScalar(portEntry.Value, "cluster.port");
                if (!ValueParsers.TryParsePort(text, out port, out string? err))
                    throw Error(portEntry.Value, "cluster.port", $"cluster.port: {err}");
            }

            string? publicHost = null;
            if (keys.TryGetValue("public-host", out var phEntry))
            {
                publicHost = RequiredScalar(phEntry.Value, "cluster.public-host");
                if (ClusterConfig.IsWildcard(publicHost) || publicHost.Any(char.IsWhiteSpace) || publicHost.IndexOfAny(['/', '@', '?', '#']) >= 0)
                    throw Error(phEntry.Value, "cluster.public-host", $"cluster.public-host: '{publicHost}' is not a name other nodes can reach");
            }

            int? publicPort = null;
            if (keys.TryGetValue("public-port", out var ppEntry))
            {
                string text = RequiredScalar(ppEntry.Value, "cluster.public-port");
                if (!ValueParsers.TryParsePort(text, out int pp, out string? err))
                    throw Error(ppEntry.Value, "cluster.public-port", $"cluster.public-port: {err}");
                // 0 would advertise an address nobody can dial.
                if (pp == 0)
                    throw Error(ppEntry.Value, "cluster.public-port", "cluster.public-port: 0 is not a port other nodes can reach");
                publicPort = pp;
            }

            var seeds = new List<string>();
            if (keys.TryGetValue("seeds", out var seedsEntry) && !(seedsEntry.Value is YamlScalarNode ns && IsNull(ns)))
            {
                if (seedsEntry.Value is not YamlSequenceNode seq)
                    throw Error(seedsEntry.Value, "cluster.seeds", $"cluster.seeds: expected a list of addresses like akka.tcp://{ClusterConfig.SystemName}@host:{ClusterConfig.DefaultPort}");
                for (int i = 0; i < seq.Children.Count; i++)
                {
                    string k = $"cluster.seeds[{i}]";
                    string seed = RequiredScalar(seq.Children[i], k);
                    string? problem = SeedProblem(seed);
                    if (problem is not null)
                        throw Error(seq.Children[i], k, $"{k}: {problem}");
                    seeds.Add(seed);
                }
            }

            return new ClusterConfig
            {
                Host = host,
                Port = port,
                PortIsExplicit = keys.ContainsKey("port"),
                PublicHost = publicHost ?? DefaultPublicHost(host),
                PublicPort = publicPort,
                Seeds = seeds,
            };
        }

        private ClusterConfig DefaultCluster() => new() { PublicHost = DefaultPublicHost(ClusterConfig.DefaultHost) };

        private string DefaultPublicHost(string host) => ClusterConfig.IsWildcard(host) ? options.GetHostName() : host;

        private static string? SeedProblem(string seed)
        {
            string example = $"akka.tcp://{ClusterConfig.SystemName}@host:{ClusterConfig.DefaultPort}";
            if (!Uri.TryCreate(seed, UriKind.Absolute, out var uri))
                return $"'{seed}' is not a cluster address (expected {example})";
            if (uri.Scheme != "akka.tcp")
                return $"'{seed}' has scheme '{uri.Scheme}', expected akka.tcp (e.g. {example})";
            if (uri.UserInfo != ClusterConfig.SystemName)
                return $"'{seed}' must name the actor system '{ClusterConfig.SystemName}' (e.g. {example})";
            if (string.IsNullOrEmpty(uri.Host) || uri.IsDefaultPort || uri.Port <= 0)
                return $"'{seed}' needs a host and a port (e.g. {example})";
            if (uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0 || uri.Fragment.Length > 0)
                return $"'{seed}' must be just akka.tcp://{ClusterConfig.SystemName}@host:port";
            return null;
        }

        private void CheckUnique(List<DbConfig> dbs, YamlSequenceNode dbsNode)
        {
            var names = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var paths = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < dbs.Count; i++)
            {
                var node = dbsNode.Children[i];
                if (paths.TryGetValue(dbs[i].Path, out int j))
                    throw Error(node, $"dbs[{i}].path", $"dbs[{i}].path: '{dbs[i].Path}' is already configured as dbs[{j}] (line {dbsNode.Children[j].Start.Line})");
                paths[dbs[i].Path] = i;
                if (names.TryGetValue(dbs[i].Name, out j))
                    throw Error(node, $"dbs[{i}].name", $"dbs[{i}].name: database name '{dbs[i].Name}' is already used by dbs[{j}] (line {dbsNode.Children[j].Start.Line}); set a distinct 'name:'");
                names[dbs[i].Name] = i;
            }
        }

        private void CheckOneCluster(List<DbConfig> dbs, List<YamlNode> positions)
        {
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
                    throw Error(positions[i], $"dbs[{i}].upstream.url",
                        $"dbs[{i}].upstream.url: upstreams name two clusters: '{dbs[first].Upstream!.Url.OriginalString}' (dbs[{first}], line {positions[first].Start.Line}) "
                        + $"and '{dbs[i].Upstream!.Url.OriginalString}' (dbs[{i}], line {positions[i].Start.Line}); all upstreams of one node must point at the same primary");
                }
            }
        }

        private string ResolveDbPath(string raw)
        {
            string p = raw;
            if (p == "~" || p.StartsWith("~/", StringComparison.Ordinal))
            {
                string home = options.HomeDirectory ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                p = System.IO.Path.Join(home, p.Length > 1 ? p[2..] : "");
            }
            return System.IO.Path.GetFullPath(p, options.BaseDirectory ?? Directory.GetCurrentDirectory());
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

        /// <summary>Validates a mapping's keys; returns key name → (key node, value node).</summary>
        private Dictionary<string, (YamlScalarNode Key, YamlNode Value)> CheckKeys(
            YamlMappingNode map, string path, string where, string[] allowed)
        {
            var result = new Dictionary<string, (YamlScalarNode, YamlNode)>(StringComparer.Ordinal);
            foreach (var (k, v) in map.Children)
            {
                if (k is not YamlScalarNode key || key.Value is null)
                    throw Error(k, path, $"keys must be plain names {where}");
                string name = key.Value;
                string full = path.Length == 0 ? name : $"{path}.{name}";
                if (!allowed.Contains(name, StringComparer.Ordinal))
                {
                    string hint = name is "replicas" or "replica"
                        ? "; Litecast replicates live between servers, not to object storage, so Litestream's 'replicas' has no equivalent"
                        : "";
                    throw Error(key, full, $"unknown key '{name}' {where} (expected one of: {string.Join(", ", allowed)}){hint}");
                }
                result[name] = (key, v);
            }
            return result;
        }

        private static bool IsNull(YamlScalarNode s) =>
            s.Style == YamlDotNet.Core.ScalarStyle.Plain && s.Value is null or "" or "~" or "null" or "Null" or "NULL";

        /// <summary>A scalar that may be null/empty (returns null then).</summary>
        private string? OptionalScalar(YamlNode node, string key)
        {
            if (node is not YamlScalarNode s)
                throw Error(node, key, $"{key}: expected a single value, not a {Kind(node)}");
            return IsNull(s) ? null : s.Value;
        }

        /// <summary>A scalar that must be present and non-empty.</summary>
        private string RequiredScalar(YamlNode node, string key)
        {
            string? value = OptionalScalar(node, key);
            if (string.IsNullOrWhiteSpace(value))
                throw Error(node, key, $"{key}: must not be empty");
            return value.Trim();
        }

        private static string Kind(YamlNode node) => node switch
        {
            YamlMappingNode => "mapping",
            YamlSequenceNode => "list",
            _ => "value",
        };
    }
}
