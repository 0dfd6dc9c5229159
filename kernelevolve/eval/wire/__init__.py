"""What crosses a process boundary of the judge: the framed channel, the serve loop every sandboxed main runs,
the messages' shapes, and the outputs a worker hands to the referee as data.

Imported by the evaluator and by the sandboxed processes alike, so nothing here may import either side.
"""
