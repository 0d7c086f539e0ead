package arrowout

import (
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// RecordRows is how many rows a record (and a Parquet row group) holds at most: large
// enough for good compression and fast scans, small enough to bound memory.
const RecordRows = 64 * 1024

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func scalarArrowType(t abi.Type) (arrow.DataType, bool) {
	switch t {
	case abi.TypeBytes:
		return arrow.BinaryTypes.Binary, true
	case abi.TypeString:
		return arrow.BinaryTypes.String, true
	case abi.TypeInt32:
		return arrow.PrimitiveTypes.Int32, true
	case abi.TypeInt64:
		return arrow.PrimitiveTypes.Int64, true
	case abi.TypeDouble:
		return arrow.PrimitiveTypes.Float64, true
	case abi.TypeFloat:
		return arrow.PrimitiveTypes.Float32, true
	case abi.TypeBool:
		return arrow.FixedWidthTypes.Boolean, true
	case abi.TypeUnixTimestamp:
		return tsType, true
	}
	return nil, false
}

// Schema is the Arrow schema of an engine result: timestamps as microseconds in UTC,
// lists as Arrow lists, every column nullable.
func Schema(cols []offlineengine.Column) (*arrow.Schema, error) {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		t := c.Type
		var dt arrow.DataType
		var ok bool
		if t.IsList() {
			var et arrow.DataType
			if et, ok = scalarArrowType(t.Elem()); ok {
				dt = arrow.ListOf(et)
			}
		} else {
			dt, ok = scalarArrowType(t)
		}
		if !ok {
			return nil, fmt.Errorf("column %q: type %s has no Arrow form", c.Name, t)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: dt, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// Builder accumulates engine batches into Arrow records.
type Builder struct {
	schema []offlineengine.Column
	rb     *array.RecordBuilder
	rows   int
}

// NewBuilder returns a builder for results of the given columns.
func NewBuilder(cols []offlineengine.Column) (*Builder, error) {
	s, err := Schema(cols)
	if err != nil {
		return nil, err
	}
	return &Builder{schema: cols, rb: array.NewRecordBuilder(memory.DefaultAllocator, s)}, nil
}

// ArrowSchema is the schema of the records the builder makes.
func (b *Builder) ArrowSchema() *arrow.Schema { return b.rb.Schema() }

// Len is the number of rows appended since the last record.
func (b *Builder) Len() int { return b.rows }

// Append copies rows (values as documented on offlineengine.Batch) into the builder.
func (b *Builder) Append(rows [][]any) error {
	for ri, row := range rows {
		for j, c := range b.schema {
			if err := appendValue(b.rb.Field(j), c.Type, row[j]); err != nil {
				return fmt.Errorf("row %d, column %q: %w", b.rows+ri+1, c.Name, err)
			}
		}
	}
	b.rows += len(rows)
	return nil
}

// Record returns the rows appended so far as a record and starts a new one. The caller
// releases it.
func (b *Builder) Record() arrow.RecordBatch {
	b.rows = 0
	return b.rb.NewRecordBatch()
}

// Release frees the builder's buffers.
func (b *Builder) Release() { b.rb.Release() }

func appendValue(ab array.Builder, t abi.Type, v any) error {
	if v == nil {
		ab.AppendNull()
		return nil
	}
	if t.IsList() {
		lb := ab.(*array.ListBuilder)
		lb.Append(true)
		vb, et := lb.ValueBuilder(), t.Elem()
		var err error
		switch xs := v.(type) {
		case [][]byte:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []string:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []int32:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []int64:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []float64:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []float32:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []bool:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		case []time.Time:
			for _, x := range xs {
				err = appendValue(vb, et, x)
			}
		default:
			return fmt.Errorf("value of Go type %T is not a %s", v, t)
		}
		return err
	}
	ok := true
	switch t {
	case abi.TypeBytes:
		var x []byte
		if x, ok = v.([]byte); ok {
			ab.(*array.BinaryBuilder).Append(x)
		}
	case abi.TypeString:
		var x string
		if x, ok = v.(string); ok {
			ab.(*array.StringBuilder).Append(x)
		}
	case abi.TypeInt32:
		var x int32
		if x, ok = v.(int32); ok {
			ab.(*array.Int32Builder).Append(x)
		}
	case abi.TypeInt64:
		var x int64
		if x, ok = v.(int64); ok {
			ab.(*array.Int64Builder).Append(x)
		}
	case abi.TypeDouble:
		var x float64
		if x, ok = v.(float64); ok {
			ab.(*array.Float64Builder).Append(x)
		}
	case abi.TypeFloat:
		var x float32
		if x, ok = v.(float32); ok {
			ab.(*array.Float32Builder).Append(x)
		}
	case abi.TypeBool:
		var x bool
		if x, ok = v.(bool); ok {
			ab.(*array.BooleanBuilder).Append(x)
		}
	case abi.TypeUnixTimestamp:
		var x time.Time
		if x, ok = v.(time.Time); ok {
			ab.(*array.TimestampBuilder).Append(arrow.Timestamp(x.UnixMicro()))
		}
	default:
		ok = false
	}
	if !ok {
		return fmt.Errorf("value of Go type %T is not a %s", v, t)
	}
	return nil
}

// ParquetWriter writes engine batches to a Parquet file, one row group per RecordRows rows.
type ParquetWriter struct {
	b  *Builder
	fw *pqarrow.FileWriter
}

// NewParquetWriter starts a Parquet file (Snappy-compressed, Arrow schema stored so that
// readers get the UTC timestamps back) on w.
func NewParquetWriter(w io.Writer, cols []offlineengine.Column) (*ParquetWriter, error) {
	b, err := NewBuilder(cols)
	if err != nil {
		return nil, err
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(RecordRows))
	fw, err := pqarrow.NewFileWriter(b.ArrowSchema(), w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		b.Release()
		return nil, fmt.Errorf("starting the Parquet file: %w", err)
	}
	return &ParquetWriter{b: b, fw: fw}, nil
}

// Write appends a batch of rows.
func (p *ParquetWriter) Write(b *offlineengine.Batch) error {
	if err := p.b.Append(b.Rows); err != nil {
		return err
	}
	if p.b.Len() >= RecordRows {
		return p.flush()
	}
	return nil
}

func (p *ParquetWriter) flush() error {
	rec := p.b.Record()
	defer rec.Release()
	if rec.NumRows() == 0 {
		return nil
	}
	if err := p.fw.Write(rec); err != nil {
		return fmt.Errorf("writing a Parquet row group: %w", err)
	}
	return nil
}

// Close writes the remaining rows and the file footer.
func (p *ParquetWriter) Close() error {
	defer p.b.Release()
	err := p.flush()
	if cerr := p.fw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("finishing the Parquet file: %w", cerr)
	}
	return err
}

// IPCWriter writes engine batches as an Arrow IPC stream, one record per batch.
type IPCWriter struct {
	b *Builder
	w *ipc.Writer
}

// NewIPCWriter starts an Arrow IPC stream on w.
func NewIPCWriter(w io.Writer, cols []offlineengine.Column) (*IPCWriter, error) {
	b, err := NewBuilder(cols)
	if err != nil {
		return nil, err
	}
	return &IPCWriter{b: b, w: ipc.NewWriter(w, ipc.WithSchema(b.ArrowSchema()))}, nil
}

// Write sends a batch of rows as one record.
func (p *IPCWriter) Write(b *offlineengine.Batch) error {
	if err := p.b.Append(b.Rows); err != nil {
		return err
	}
	rec := p.b.Record()
	defer rec.Release()
	if err := p.w.Write(rec); err != nil {
		return fmt.Errorf("writing an Arrow record: %w", err)
	}
	return nil
}

// Close ends the stream (writing the schema if no batch came).
func (p *IPCWriter) Close() error {
	defer p.b.Release()
	return p.w.Close()
}
