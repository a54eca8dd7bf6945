namespace Litecast.Messages;

/// <summary>
/// The HOCON that binds every Litecast message to <see cref="LitecastSerializer"/>: the content of
/// <c>hocon/serialization.conf</c>, embedded in this assembly so hosts and tests need no file path.
/// </summary>
public static class LitecastSerialization
{
    private const string ResourceName = "Litecast.Messages.serialization.conf";

    private static readonly Lazy<string> Content = new(Load);

    /// <summary>HOCON fragment (<c>akka.actor.serializers</c>, <c>serialization-bindings</c>,
    /// <c>serialization-identifiers</c>, <c>serialize-messages = off</c>).</summary>
    public static string Hocon => Content.Value;

    private static string Load()
    {
        using Stream stream = typeof(LitecastSerialization).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource '{ResourceName}' is missing from {typeof(LitecastSerialization).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
