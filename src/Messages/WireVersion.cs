namespace Litecast.Messages; public static class WireVersion { public const int Current = 1; }
