using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;
using YamlDotNet.Serialization.NodeTypeResolvers;

namespace Litecast.Host.Configuration;

/// <summary>The shape a value has in the file.</summary>
internal enum NodeKind
{
    /// <summary>Empty, <c>~</c> or <c>null</c>, unquoted.</summary>
    Null,

    /// <summary>A single value.</summary>
    Scalar,

    /// <summary>Keys and values.</summary>
    Mapping,

    /// <summary>A list.</summary>
    List,
}

/// <summary>
/// A value as written in the file: where it starts, its shape, and its content when the shape is the one
/// <typeparamref name="T"/> needs (text for <see cref="string"/>, a list for <see cref="List{T}"/>, else a
/// mapping). A value of another shape is kept without content, so the validation pass can report it with its key.
/// </summary>
internal sealed record Located<T>(Mark Start, NodeKind Kind, T? Value) where T : class;

/// <summary>The top level of <c>litecast.yml</c>. Properties are the keys (kebab-cased), in the order errors list them.</summary>
internal sealed class TopSection
{
    public Located<string>? Addr { get; set; }

    public Located<List<Located<DbSection>>>? Dbs { get; set; }

    public Located<ClusterSection>? Cluster { get; set; }

    public Located<TlsSection>? Tls { get; set; }

    public Located<AuthSection>? Auth { get; set; }

    public Located<ProxySection>? Proxy { get; set; }
}

/// <summary><c>proxy</c>.</summary>
internal sealed class ProxySection
{
    public Located<string>? Addr { get; set; }

    public Located<string>? Target { get; set; }

    public Located<string>? Db { get; set; }

    public Located<List<Located<string>>>? Passthrough { get; set; }

    public Located<string>? MaxLag { get; set; }

    public Located<string>? WaitTimeout { get; set; }

    public Located<string>? WriteAck { get; set; }

    public Located<string>? PublicUrl { get; set; }
}

/// <summary><c>tls</c>.</summary>
internal sealed class TlsSection
{
    public Located<string>? Cert { get; set; }

    public Located<string>? Key { get; set; }

    public Located<string>? Ca { get; set; }
}

/// <summary><c>auth</c>.</summary>
internal sealed class AuthSection
{
    public Located<string>? Token { get; set; }

    public Located<string>? ProtectReads { get; set; }
}

/// <summary>One entry of <c>dbs</c>.</summary>
internal sealed class DbSection
{
    public Located<string>? Path { get; set; }

    public Located<UpstreamSection>? Upstream { get; set; }

    public Located<string>? Name { get; set; }

    public Located<string>? CheckpointThresholdPages { get; set; }

    public Located<string>? RetainedLogBytes { get; set; }

    public Located<string>? MaxLag { get; set; }

    public Located<string>? ScrubInterval { get; set; }
}

/// <summary><c>dbs[].upstream</c>.</summary>
internal sealed class UpstreamSection
{
    public Located<string>? Url { get; set; }

    public Located<string>? Path { get; set; }
}

/// <summary><c>cluster</c>.</summary>
internal sealed class ClusterSection
{
    public Located<string>? Host { get; set; }

    public Located<string>? Port { get; set; }

    public Located<string>? PublicHost { get; set; }

    public Located<string>? PublicPort { get; set; }

    public Located<List<Located<string>>>? Seeds { get; set; }
}

/// <summary>
/// Reads <c>litecast.yml</c> text into <see cref="TopSection"/> with YamlDotNet's deserializer, which matches the
/// keys (an unknown or repeated key is an error); every value comes back <see cref="Located{T}"/> for the validation
/// pass in <see cref="ConfigLoader"/>. Failures are <see cref="ConfigException"/>s naming the line, column and key.
/// </summary>
internal static class ConfigYaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(HyphenatedNamingConvention.Instance)
        // Outermost, so the deserializer asks it for every key, and the names it lists are kebab-cased.
        .WithTypeInspector(inner => new KnownKeysInspector(inner), where => where.OnTop())
        // First, so the built-in ones (null, object) never see a Located<T>.
        .WithNodeDeserializer(new LocatedDeserializer(), where => where.OnTop())
        .WithDuplicateKeyChecking()
        // Tags are ignored, so every value reaches the validation pass as its text (with them, the deserializer would
        // convert a tagged value, or refuse an unknown tag).
        .WithoutNodeTypeResolver<TagNodeTypeResolver>()
        .WithoutNodeTypeResolver<PreventUnknownTagsNodeTypeResolver>()
        .Build();

    /// <summary>Reads the one document of <paramref name="text"/>; null when the file holds none.</summary>
    public static Located<TopSection>? Read(string text, string file)
    {
        var parser = new KeyPathParser(ReadEvents(text, file));
        try
        {
            return Deserializer.Deserialize<Located<TopSection>?>(parser);
        }
        catch (YamlException e)
        {
            throw KeyError(file, parser, e);
        }
    }

    /// <summary>The line and column (1-based) of the first tab in a line's indentation, if any.</summary>
    private static (int Line, int Column)? FirstTabIndent(string text)
    {
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', 0, indent);
            if (tab >= 0) return (i + 1, tab + 1);
        }
        return null;
    }

    /// <summary>
    /// Parses the whole text before anything is deserialized, so malformed YAML is reported wherever it is, and so
    /// is a second document. An alias is replaced by the events of the node it names, so a value reached through an
    /// alias is checked, and located, like the node itself (the deserializer would hand over the object it read there,
    /// whatever shape the key needs).
    /// </summary>
    private static List<ParsingEvent> ReadEvents(string text, string file)
    {
        var events = new List<ParsingEvent>();
        var anchored = new Dictionary<AnchorName, (int First, int Count)>();
        var open = new Stack<int>();
        var parser = new Parser(new StringReader(text));
        try
        {
            while (parser.MoveNext())
            {
                var e = parser.Current!;
                if (e is AnchorAlias alias)
                {
                    if (!anchored.TryGetValue(alias.Value, out var node))
                        throw new YamlException(alias.Start, alias.End, $"alias *{alias.Value} does not name a node anchored before it");
                    events.AddRange(events.GetRange(node.First, node.Count));
                    continue;
                }
                events.Add(e);
                if (e is MappingStart or SequenceStart)
                {
                    open.Push(events.Count - 1);
                    continue;
                }
                // A scalar is a node by itself; an end closes the node its start opened.
                int first = e is MappingEnd or SequenceEnd ? open.Pop() : events.Count - 1;
                if (events[first] is NodeEvent { Anchor.IsEmpty: false } named)
                    anchored[named.Anchor] = (first, events.Count - first);
            }
        }
        catch (YamlException e)
        {
            // YamlDotNet places "invalid tab as indentation" at the start of the enclosing mapping (1:1 for a
            // top-level one): point at the first line indented with a tab instead.
            var (line, column) = e.Message.Contains("tab", StringComparison.Ordinal) && FirstTabIndent(text) is { } tab
                ? tab
                : ((int)e.Start.Line, (int)e.Start.Column);
            throw new ConfigException(file, line, column, null, $"malformed YAML: {StripMark(e)}", e);
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's scanner fails this way, without a position, on some unterminated flow collections
            // (`token: [abc` followed by more keys): the last event read tells how far it got.
            var after = parser.Current?.End ?? events.LastOrDefault()?.End;
            throw new ConfigException(file, after is { } at ? (int)at.Line : null, after is { } a ? (int)a.Column : null, null,
                "malformed YAML: a flow collection ('[' or '{') is not closed; quote a value that starts with '[' or '{'", e);
        }
        int second = events.FindIndex(events.FindIndex(e => e is DocumentStart) + 1, e => e is DocumentStart);
        if (second >= 0)
        {
            var root = events[second + 1].Start;
            throw new ConfigException(file, (int)root.Line, (int)root.Column, null, "expected one YAML document, found several ('---')");
        }
        return events;
    }

    private static string StripMark(YamlException e)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (Line: 3, Col: 6, Idx: 21): ".
        string m = e.Message;
        int sep = m.IndexOf("): ", StringComparison.Ordinal);
        return m.StartsWith("(Line:", StringComparison.Ordinal) && sep >= 0 ? m[(sep + 3)..] : m;
    }

    /// <summary>
    /// The deserializer stops only at a key it cannot place (values are all <see cref="Located{T}"/>, which takes
    /// any shape): one its section has no property for, a repeated one, or one that is not a plain name.
    /// </summary>
    private static ConfigException KeyError(string file, KeyPathParser parser, YamlException e)
    {
        string where = parser.Section.Length == 0 ? "at top level" : $"in {parser.Section}";
        ConfigException At(Mark mark, string key, string detail) => new(file, (int)mark.Line, (int)mark.Column, key, detail, e);

        if (parser.AtKey && parser.Current is NodeEvent and not Scalar)
            return At(parser.Current.Start, parser.Section, $"keys must be plain names {where}");
        if (parser.Key is { } key && e is UnknownKeyException unknown)
        {
            string hint = key.Value is "replicas" or "replica"
                ? "; Litecast replicates live between servers, not to object storage, so Litestream's 'replicas' has no equivalent"
                : "";
            return At(key.Start, parser.Path, $"unknown key '{key.Value}' {where} (expected one of: {string.Join(", ", unknown.Known)}){hint}");
        }
        if (parser.Key is { } repeated && parser.KeyRepeats)
            return At(repeated.Start, parser.Path, $"duplicate key '{repeated.Value}' {where}");
        // Not expected; kept so that anything else still names its place.
        string detail = e.InnerException is { } inner ? $"{StripMark(e)} ({inner.Message})" : StripMark(e);
        return At(e.Start, parser.Path, $"{parser.Path}: {detail}");
    }

    /// <summary>The deserializer met a key its section has no property for.</summary>
    /// <remarks>A <see cref="YamlException"/>, which the deserializer passes on as it is.</remarks>
    private sealed class UnknownKeyException(IEnumerable<string> known) : YamlException("unknown key")
    {
        public IReadOnlyList<string> Known { get; } = known.ToList();
    }

    /// <summary>
    /// Throws <see cref="UnknownKeyException"/>, with the keys the section has, where the deserializer would report
    /// a missing property of a C# type.
    /// </summary>
    private sealed class KnownKeysInspector(ITypeInspector inner) : ITypeInspector
    {
        public IPropertyDescriptor GetProperty(Type type, object? container, string name, bool ignoreUnmatched, bool caseInsensitivePropertyMatching) =>
            inner.GetProperty(type, container, name, ignoreUnmatched: true, caseInsensitivePropertyMatching)
            ?? throw new UnknownKeyException(inner.GetProperties(type, container).Select(p => p.Name));

        public IEnumerable<IPropertyDescriptor> GetProperties(Type type, object? container) => inner.GetProperties(type, container);

        public string GetEnumName(Type enumType, string name) => inner.GetEnumName(enumType, name);

        public string GetEnumValue(object enumValue) => inner.GetEnumValue(enumValue);

        public bool HasParseMethod(Type type) => inner.HasParseMethod(type);

        public object? Parse(string value, Type type) => inner.Parse(value, type);
    }

    /// <summary>
    /// Reads every <see cref="Located{T}"/>: notes where the value starts and its shape, and deserializes the content
    /// only when the shape fits (else skips it).
    /// </summary>
    private sealed class LocatedDeserializer : INodeDeserializer
    {
        public bool Deserialize(IParser reader, Type expectedType, Func<IParser, Type, object?> nestedObjectDeserializer,
            out object? value, ObjectDeserializer rootDeserializer)
        {
            value = null;
            if (!expectedType.IsGenericType || expectedType.GetGenericTypeDefinition() != typeof(Located<>))
                return false;
            var contentType = expectedType.GetGenericArguments()[0];
            var node = reader.Current!;
            var kind = node switch
            {
                Scalar s when IsNull(s) => NodeKind.Null,
                Scalar => NodeKind.Scalar,
                MappingStart => NodeKind.Mapping,
                _ => NodeKind.List, // a SequenceStart: ReadEvents left no alias
            };
            object? content = null;
            if (kind == KindOf(contentType))
                content = nestedObjectDeserializer(reader, contentType);
            else
                reader.SkipThisAndNestedEvents();
            value = Activator.CreateInstance(expectedType, node.Start, kind, content);
            return true;
        }

        private static bool IsNull(Scalar s) =>
            s.Style == ScalarStyle.Plain && s.Value is "" or "~" or "null" or "Null" or "NULL";

        private static NodeKind KindOf(Type contentType) =>
            contentType == typeof(string) ? NodeKind.Scalar
            : contentType.IsGenericType && contentType.GetGenericTypeDefinition() == typeof(List<>) ? NodeKind.List
            : NodeKind.Mapping;
    }

    /// <summary>
    /// Hands the parsed events to the deserializer, keeping track of where it is: the path of the node it reads
    /// (<c>dbs[0].upstream</c>) and the key it just read, so that an error can name them.
    /// </summary>
    private sealed class KeyPathParser(List<ParsingEvent> events) : IParser
    {
        private readonly Stack<Level> _levels = new();
        private int _next;

        public ParsingEvent? Current { get; private set; }

        /// <summary>The path of the innermost open mapping or list; "" for the top level.</summary>
        public string Section => _levels.TryPeek(out var level) ? level.Path : "";

        /// <summary>The key last read in the innermost mapping.</summary>
        public Scalar? Key => _levels.TryPeek(out var level) ? level.Key : null;

        /// <summary>True when <see cref="Key"/> appeared before in its mapping.</summary>
        public bool KeyRepeats => _levels.TryPeek(out var level) && level.KeyRepeats;

        /// <summary>True when <see cref="Current"/> stands where a mapping's key belongs.</summary>
        public bool AtKey => _levels.TryPeek(out var level) && level.IsMapping && level.NodesRead % 2 == 0;

        /// <summary>The path of the value after <see cref="Key"/>, or of the list item at <see cref="Current"/>.</summary>
        public string Path =>
            !_levels.TryPeek(out var level) ? ""
            : !level.IsMapping ? $"{level.Path}[{level.NodesRead}]"
            : level.Key is null ? level.Path
            : level.Path.Length == 0 ? level.Key.Value
            : $"{level.Path}.{level.Key.Value}";

        public bool MoveNext()
        {
            switch (Current)
            {
                case MappingStart or SequenceStart:
                    _levels.Push(new Level(Path, Current is MappingStart));
                    break;
                case MappingEnd or SequenceEnd:
                    _levels.Pop();
                    NodeRead();
                    break;
                case Scalar key when AtKey:
                    var mapping = _levels.Peek();
                    mapping.Key = key;
                    mapping.KeyRepeats = !mapping.Keys.Add(key.Value);
                    NodeRead();
                    break;
                case Scalar:
                    NodeRead();
                    break;
            }
            Current = _next < events.Count ? events[_next++] : null;
            return Current is not null;
        }

        private void NodeRead()
        {
            if (_levels.TryPeek(out var level))
                level.NodesRead++;
        }

        /// <summary>An open mapping or list. A mapping's nodes alternate: key, value.</summary>
        private sealed class Level(string path, bool isMapping)
        {
            public string Path { get; } = path;

            public bool IsMapping { get; } = isMapping;

            public int NodesRead { get; set; }

            public Scalar? Key { get; set; }

            public bool KeyRepeats { get; set; }

            public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);
        }
    }
}
