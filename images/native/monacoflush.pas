{ Loaded into every Pascal program (languages.toml: -Famonacoflush): Output
  is flushed after every Write, as Free Pascal does for a terminal, so that
  a prompt shows before ReadLn blocks on a pipe. }
unit MonacoFlush;

interface

implementation

initialization
  TextRec(Output).FlushFunc := TextRec(Output).InOutFunc;
end.
